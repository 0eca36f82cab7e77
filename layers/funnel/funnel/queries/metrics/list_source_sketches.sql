-- The visitor sketch of every traffic source of the rollup rows ids (primary-key probes),
-- each with the generated_at it belongs to: the caller merges each source's sketches into
-- its unique visitors.
SELECT r.id,
       r.generated_at,
       source.key                        AS source,
       decode(source.value, 'base64')    AS sketch
  FROM daily_metric_rollups r,
       jsonb_each_text(r.source_visitor_sketches) AS source
 WHERE r.id = ANY(%(ids)s::uuid[])
