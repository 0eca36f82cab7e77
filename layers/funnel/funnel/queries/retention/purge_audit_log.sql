-- Audit entries from before the first kept rollup day.
WITH batch AS (
    SELECT id
      FROM audit_log
     WHERE occurred_at < %(cutoff_at)s
     ORDER BY occurred_at
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM audit_log
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
