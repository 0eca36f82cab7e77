-- Breakdown rollups of days before the first kept rollup day.
WITH batch AS (
    SELECT id
      FROM daily_breakdown_rollups
     WHERE day < %(cutoff_day)s
     ORDER BY day
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM daily_breakdown_rollups
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
