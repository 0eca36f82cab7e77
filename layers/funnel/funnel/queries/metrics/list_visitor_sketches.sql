-- The visitor sketches of the rollup rows ids (primary-key probes), each with the
-- generated_at it belongs to: only those of a window's rows that the warm container has
-- not decoded yet (list_window_sketches.sql lists them).
SELECT id, generated_at, visitors_sketch AS sketch
  FROM daily_metric_rollups
 WHERE id = ANY(%(ids)s::uuid[])
   AND visitors_sketch IS NOT NULL
