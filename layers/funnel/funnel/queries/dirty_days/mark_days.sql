-- Mark UTC days dirty in the writing transaction, in the rows of the backend that runs the
-- statement: no other transaction writes them (a backend runs one at a time), so no late
-- write waits for another's mark. A day marked again takes a new version, which tells the
-- rollup that read the old one that the day changed after its read.
INSERT INTO rollup_dirty_days AS d (day, backend_pid, marked_at)
SELECT day, pg_backend_pid(), %(marked_at)s::timestamptz
  FROM unnest(%(days)s::date[]) AS day
 ORDER BY day
ON CONFLICT (day, backend_pid) DO UPDATE
   SET version = EXCLUDED.version
