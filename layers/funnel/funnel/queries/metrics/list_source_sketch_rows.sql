-- The id and generated_at (the version of its sketches) of every rollup row of the days
-- from_day..to_day, of every property, that has a visitor sketch per traffic source: the
-- caller fetches only the sketches it has not decoded yet (list_source_sketches.sql).
SELECT id, generated_at
  FROM daily_metric_rollups
 WHERE day BETWEEN %(from_day)s::date AND %(to_day)s::date
   AND source_visitor_sketches <> '{}'::jsonb
 ORDER BY day, property_id
