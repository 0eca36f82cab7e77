-- The visitor sketch of every traffic source on every day from_day..to_day, of every
-- property: the caller merges each source's sketches into its unique visitors.
SELECT source.key                        AS source,
       decode(source.value, 'base64')    AS sketch
  FROM daily_metric_rollups r,
       jsonb_each_text(r.source_visitor_sketches) AS source
 WHERE r.day BETWEEN %(from_day)s::date AND %(to_day)s::date
