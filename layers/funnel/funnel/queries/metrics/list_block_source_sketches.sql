-- The visitor sketch of every traffic source of the sketch blocks ids (primary-key
-- probes), each with the generated_at it belongs to (one row with a NULL source for
-- one without any).
SELECT b.id,
       b.generated_at,
       source.key                     AS source,
       decode(source.value, 'base64') AS sketch
  FROM visitor_sketch_blocks b
  LEFT JOIN LATERAL jsonb_each_text(b.source_visitor_sketches) AS source ON true
 WHERE b.id = ANY(%(ids)s::uuid[])
