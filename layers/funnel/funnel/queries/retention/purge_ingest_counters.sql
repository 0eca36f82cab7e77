-- Ingest counters of days before the first kept rollup day (every row of a counter).
WITH batch AS (
    SELECT property_id, day, kind, outcome, code, backend_pid
      FROM ingest_counters
     WHERE day < %(cutoff_day)s
     ORDER BY day
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM ingest_counters
     WHERE (property_id, day, kind, outcome, code, backend_pid)
           IN (SELECT property_id, day, kind, outcome, code, backend_pid FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
