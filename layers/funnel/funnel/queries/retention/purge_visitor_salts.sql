-- Daily visitor salts older than yesterday's: with the salt gone, nobody can recompute
-- (and so link) a cookieless visitor id of that day.
WITH batch AS (
    SELECT day
      FROM visitor_salts
     WHERE day < %(cutoff_day)s
     ORDER BY day
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM visitor_salts
     WHERE day IN (SELECT day FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
