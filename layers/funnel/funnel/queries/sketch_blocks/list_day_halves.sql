-- The two halves of the level-1 blocks starting on first_day: the daily_metric_rollups
-- rows of first_day and the day after, of every property or only %(property_id)s, by
-- property and day, with their sketches.
SELECT property_id,
       day                      AS first_day,
       visitors_sketch,
       source_visitor_sketches,
       ARRAY[id]                AS day_rows,
       ARRAY[generated_at]      AS day_versions
  FROM daily_metric_rollups
 WHERE day BETWEEN %(first_day)s::date AND %(first_day)s::date + 1
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
 ORDER BY property_id, day
