-- The visitor sketches of breakdown rows, by id (list_breakdowns.sql names them).
SELECT id, generated_at, visitors_sketch AS sketch
  FROM daily_breakdown_rollups
 WHERE id = ANY (%(ids)s::uuid[])
