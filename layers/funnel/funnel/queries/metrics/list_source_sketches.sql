-- The visitor sketch of every traffic source of the rollup rows ids (primary-key probes),
-- each with the generated_at it belongs to (one row with a NULL source for one without
-- any): the caller merges each source's sketches into its unique visitors.
SELECT r.id,
       r.generated_at,
       source.key                        AS source,
       decode(source.value, 'base64')    AS sketch
  FROM daily_metric_rollups r
  LEFT JOIN LATERAL jsonb_each_text(r.source_visitor_sketches) AS source ON true
 WHERE r.id = ANY(%(ids)s::uuid[])
