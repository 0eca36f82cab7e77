-- Raw events that occurred before the first kept day, oldest first, at most %(limit)s
-- (NULL: all). Their web_traffic_logs go with them (cascade).
--
-- Every retention purge has this shape: returns matched (the rows chosen) and deleted;
-- with dry_run nothing is deleted and matched counts what a run would delete.
WITH batch AS (
    SELECT id
      FROM events
     WHERE occurred_at < %(cutoff_at)s
     ORDER BY occurred_at
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM events
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
