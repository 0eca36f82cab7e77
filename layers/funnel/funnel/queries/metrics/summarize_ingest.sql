-- Ingest reliability of the days from_day..to_day of one property (every property when
-- property_id is NULL): accepted, rejected, duplicate and bot events, and the parts of an
-- event-weighted p95 TTFB: the sum of each day's p95 times its TTFB samples, and those samples.
SELECT coalesce(sum(events_accepted), 0)                            AS events_accepted,
       coalesce(sum(events_rejected), 0)                            AS events_rejected,
       coalesce(sum(events_duplicate), 0)                           AS events_duplicate,
       coalesce(sum(events_bot), 0)                                 AS events_bot,
       coalesce(sum(p95_ttfb_ms::bigint * ttfb_samples)
                    FILTER (WHERE p95_ttfb_ms IS NOT NULL), 0)::bigint AS ttfb_weighted_sum,
       coalesce(sum(ttfb_samples) FILTER (WHERE p95_ttfb_ms IS NOT NULL), 0) AS ttfb_samples
  FROM daily_ingest_rollups
 WHERE day BETWEEN %(from_day)s::date AND %(to_day)s::date
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
