-- Replace one UTC day's marketing rollups: upsert the recomputed row of each property
-- (one array per column, property_ids first) and delete the day's rows of properties
-- that no longer have data that day; with %(only_property)s, only that property's row is
-- touched. Every column is set from the new values, never added to, so a recompute
-- replaces the day. Returns the rows upserted and deleted.
WITH fresh AS (
    SELECT *
      FROM unnest(%(property_ids)s::text[], %(unique_visitors)s::integer[], %(returning_visitors)s::integer[],
                  %(visitors_sketch)s::bytea[], %(source_visitor_sketches)s::jsonb[],
                  %(total_page_views)s::integer[], %(total_sessions)s::integer[],
                  %(total_entrances)s::integer[], %(total_exits)s::integer[], %(total_conversions)s::integer[],
                  %(form_starts)s::integer[], %(form_submits)s::integer[], %(new_leads)s::integer[],
                  %(time_to_first_capture_sum_ms)s::bigint[], %(time_to_first_capture_count)s::integer[],
                  %(traffic_source_breakdown)s::jsonb[], %(top_landing_paths)s::jsonb[])
           AS f (property_id, unique_visitors, returning_visitors, visitors_sketch, source_visitor_sketches,
                 total_page_views, total_sessions, total_entrances, total_exits, total_conversions,
                 form_starts, form_submits, new_leads, time_to_first_capture_sum_ms,
                 time_to_first_capture_count, traffic_source_breakdown, top_landing_paths)
), upserted AS (
    INSERT INTO daily_metric_rollups
           (property_id, day, unique_visitors, returning_visitors, visitors_sketch, source_visitor_sketches,
            total_page_views, total_sessions, total_entrances, total_exits, total_conversions, form_starts,
            form_submits, new_leads, time_to_first_capture_sum_ms, time_to_first_capture_count,
            traffic_source_breakdown, top_landing_paths, generated_at)
    SELECT property_id, %(day)s::date, unique_visitors, returning_visitors, visitors_sketch,
           source_visitor_sketches, total_page_views, total_sessions, total_entrances, total_exits,
           total_conversions, form_starts, form_submits, new_leads, time_to_first_capture_sum_ms,
           time_to_first_capture_count, traffic_source_breakdown, top_landing_paths, %(generated_at)s
      FROM fresh
    ON CONFLICT ON CONSTRAINT daily_metric_rollups_property_day_key DO UPDATE
       SET unique_visitors              = EXCLUDED.unique_visitors,
           returning_visitors           = EXCLUDED.returning_visitors,
           visitors_sketch              = EXCLUDED.visitors_sketch,
           source_visitor_sketches      = EXCLUDED.source_visitor_sketches,
           total_page_views             = EXCLUDED.total_page_views,
           total_sessions               = EXCLUDED.total_sessions,
           total_entrances              = EXCLUDED.total_entrances,
           total_exits                  = EXCLUDED.total_exits,
           total_conversions            = EXCLUDED.total_conversions,
           form_starts                  = EXCLUDED.form_starts,
           form_submits                 = EXCLUDED.form_submits,
           new_leads                    = EXCLUDED.new_leads,
           time_to_first_capture_sum_ms = EXCLUDED.time_to_first_capture_sum_ms,
           time_to_first_capture_count  = EXCLUDED.time_to_first_capture_count,
           traffic_source_breakdown     = EXCLUDED.traffic_source_breakdown,
           top_landing_paths            = EXCLUDED.top_landing_paths,
           generated_at                 = EXCLUDED.generated_at,
           updated_at                   = now()
    RETURNING 1
), deleted AS (
    DELETE FROM daily_metric_rollups
     WHERE day = %(day)s::date
       AND (%(only_property)s::text IS NULL OR property_id = %(only_property)s::text)
       AND property_id <> ALL (%(property_ids)s::text[])
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted) AS upserted,
       (SELECT count(*) FROM deleted)  AS deleted
