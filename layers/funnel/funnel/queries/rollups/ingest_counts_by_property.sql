-- One UTC day's ingest counters per property (every property, or only %(property_id)s):
-- accepted, rejected, duplicate and bot events, accepted and rejected leads, and the
-- rejections by kind and error code ({"event:validation_failed": n, ...}). A counter is
-- the sum of its rows (one per database backend that added to it).
WITH counters AS (
    SELECT property_id, kind, outcome, code, sum(count)::bigint AS count
      FROM ingest_counters
     WHERE day = %(day)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
     GROUP BY property_id, kind, outcome, code
)
SELECT property_id,
       coalesce(sum(count) FILTER (WHERE kind = 'event' AND outcome = 'accepted'), 0)::bigint  AS events_accepted,
       coalesce(sum(count) FILTER (WHERE kind = 'event' AND outcome = 'rejected'), 0)::bigint  AS events_rejected,
       coalesce(sum(count) FILTER (WHERE kind = 'event' AND outcome = 'duplicate'), 0)::bigint AS events_duplicate,
       coalesce(sum(count) FILTER (WHERE kind = 'event' AND outcome = 'bot'), 0)::bigint       AS events_bot,
       coalesce(sum(count) FILTER (WHERE kind = 'lead' AND outcome = 'accepted'), 0)::bigint   AS leads_accepted,
       coalesce(sum(count) FILTER (WHERE kind = 'lead' AND outcome = 'rejected'), 0)::bigint   AS leads_rejected,
       coalesce(jsonb_object_agg(kind || ':' || code, count) FILTER (WHERE outcome = 'rejected'),
                '{}'::jsonb)                                                                  AS error_breakdown
  FROM counters
 GROUP BY property_id
