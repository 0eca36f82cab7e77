-- The visitors sketches of the sketch blocks ids (primary-key probes), each with the
-- generated_at it belongs to.
SELECT id, generated_at, visitors_sketch AS sketch
  FROM visitor_sketch_blocks
 WHERE id = ANY(%(ids)s::uuid[])
   AND visitors_sketch IS NOT NULL
