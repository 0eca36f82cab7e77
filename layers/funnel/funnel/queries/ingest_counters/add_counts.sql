-- Add to one ingest counter (property, UTC day, kind, outcome, error code), in the row of
-- the backend that runs the statement: a backend runs one transaction at a time, so no
-- request waits for another's counter (a counter is the sum of its rows).
INSERT INTO ingest_counters AS c (property_id, day, kind, outcome, code, backend_pid, count)
VALUES (%(property_id)s, %(day)s, %(kind)s, %(outcome)s, %(code)s, pg_backend_pid(), %(count)s)
ON CONFLICT (property_id, day, kind, outcome, code, backend_pid) DO UPDATE
   SET count = c.count + EXCLUDED.count,
       updated_at = now()
