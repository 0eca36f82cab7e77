-- Add to several ingest counters of one UTC day and kind in one statement, one array
-- element per (property, outcome, error code), each counter once, in the rows of the
-- backend that runs the statement (see add_counts).
INSERT INTO ingest_counters AS c (property_id, day, kind, outcome, code, backend_pid, count)
SELECT n.property_id, %(day)s::date, %(kind)s::text, n.outcome, n.code, pg_backend_pid(), n.count
  FROM unnest(%(property_id)b::text[], %(outcome)b::text[], %(code)b::text[], %(count)b::bigint[])
       AS n (property_id, outcome, code, count)
ON CONFLICT (property_id, day, kind, outcome, code, backend_pid) DO UPDATE
   SET count = c.count + EXCLUDED.count,
       updated_at = now()
