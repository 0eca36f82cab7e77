-- Replace one UTC day's ingest rollups: upsert the recomputed row of each property (one
-- array per column, property_ids first) and delete the day's rows of properties that no
-- longer have ingest data that day; with %(only_property)s, only that property's row is
-- touched. Returns the rows upserted and deleted.
WITH fresh AS (
    SELECT *
      FROM unnest(%(property_ids)s::text[], %(events_accepted)s::integer[], %(events_rejected)s::integer[],
                  %(events_duplicate)s::integer[], %(events_bot)s::integer[], %(leads_accepted)s::integer[],
                  %(leads_rejected)s::integer[], %(p95_ttfb_ms)s::integer[], %(ttfb_samples)s::integer[],
                  %(error_breakdown)s::jsonb[])
           AS f (property_id, events_accepted, events_rejected, events_duplicate, events_bot, leads_accepted,
                 leads_rejected, p95_ttfb_ms, ttfb_samples, error_breakdown)
), upserted AS (
    INSERT INTO daily_ingest_rollups
           (property_id, day, events_accepted, events_rejected, events_duplicate, events_bot, leads_accepted,
            leads_rejected, p95_ttfb_ms, ttfb_samples, error_breakdown, generated_at)
    SELECT property_id, %(day)s::date, events_accepted, events_rejected, events_duplicate, events_bot,
           leads_accepted, leads_rejected, p95_ttfb_ms, ttfb_samples, error_breakdown, %(generated_at)s
      FROM fresh
    ON CONFLICT ON CONSTRAINT daily_ingest_rollups_property_day_key DO UPDATE
       SET events_accepted  = EXCLUDED.events_accepted,
           events_rejected  = EXCLUDED.events_rejected,
           events_duplicate = EXCLUDED.events_duplicate,
           events_bot       = EXCLUDED.events_bot,
           leads_accepted   = EXCLUDED.leads_accepted,
           leads_rejected   = EXCLUDED.leads_rejected,
           p95_ttfb_ms      = EXCLUDED.p95_ttfb_ms,
           ttfb_samples     = EXCLUDED.ttfb_samples,
           error_breakdown  = EXCLUDED.error_breakdown,
           generated_at     = EXCLUDED.generated_at,
           updated_at       = now()
    RETURNING 1
), deleted AS (
    DELETE FROM daily_ingest_rollups
     WHERE day = %(day)s::date
       AND (%(only_property)s::text IS NULL OR property_id = %(only_property)s::text)
       AND property_id <> ALL (%(property_ids)s::text[])
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted) AS upserted,
       (SELECT count(*) FROM deleted)  AS deleted
