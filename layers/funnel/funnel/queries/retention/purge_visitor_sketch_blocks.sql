-- Sketch blocks that begin before the first kept rollup day: some of their days are gone
-- (readers would ignore them anyway, their rows no longer matching).
WITH batch AS (
    SELECT id
      FROM visitor_sketch_blocks
     WHERE first_day < %(cutoff_day)s
     ORDER BY first_day
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM visitor_sketch_blocks
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
