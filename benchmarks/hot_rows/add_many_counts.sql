-- bench-concurrency's baseline: the layer's statement before 0009, every request of a
-- property adding to one counter row (needs the unique index the benchmark adds).
--
-- Add to several ingest counters of one UTC day and kind in one statement, one array
-- element per (property, outcome, error code); the caller sends each counter once and in
-- a fixed order, so concurrent requests lock the rows in the same order.
INSERT INTO ingest_counters AS c (property_id, day, kind, outcome, code, count)
SELECT n.property_id, %(day)s::date, %(kind)s::text, n.outcome, n.code, n.count
  FROM unnest(%(property_id)b::text[], %(outcome)b::text[], %(code)b::text[], %(count)b::bigint[])
       WITH ORDINALITY AS n (property_id, outcome, code, count, position)
 ORDER BY n.position
ON CONFLICT (property_id, day, kind, outcome, code) DO UPDATE
   SET count = c.count + EXCLUDED.count,
       updated_at = now()
