-- The marketing rollups of the days from_day..to_day (inclusive) of one property, or of
-- every property when property_id is NULL: sums of every counter and the page views per
-- traffic source (the window's unique visitors are merged from sketches: see
-- list_window_sketches.sql). One row, zeros (and an empty object) when nothing was rolled up.
WITH days AS (
    SELECT *
      FROM daily_metric_rollups
     WHERE day BETWEEN %(from_day)s::date AND %(to_day)s::date
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
), sources AS (
    SELECT source.key, sum(source.value::bigint) AS page_views
      FROM days, jsonb_each_text(days.traffic_source_breakdown) AS source
     GROUP BY source.key
)
SELECT coalesce(sum(unique_visitors), 0)              AS unique_visitor_days,
       coalesce(sum(returning_visitors), 0)           AS returning_visitor_days,
       coalesce(sum(total_page_views), 0)             AS page_views,
       coalesce(sum(total_entrances), 0)              AS entrances,
       coalesce(sum(total_conversions), 0)            AS conversions,
       coalesce(sum(form_starts), 0)                  AS form_starts,
       coalesce(sum(form_submits), 0)                 AS form_submits,
       coalesce(sum(new_leads), 0)                    AS new_leads,
       coalesce(sum(time_to_first_capture_sum_ms), 0)::bigint AS time_to_first_capture_sum_ms,
       coalesce(sum(time_to_first_capture_count), 0)  AS time_to_first_capture_count,
       (SELECT coalesce(jsonb_object_agg(key, page_views), '{}') FROM sources) AS source_page_views
  FROM days
