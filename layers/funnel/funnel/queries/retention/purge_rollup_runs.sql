-- Rollup runs that finished (or, never finished, started) before the first kept rollup
-- day: the ledger is kept as long as the rollups it produced.
WITH batch AS (
    SELECT id
      FROM rollup_runs
     WHERE coalesce(finished_at, started_at) < %(cutoff_at)s
     ORDER BY coalesce(finished_at, started_at)
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM rollup_runs
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
