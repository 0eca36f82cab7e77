-- Fold one settled UTC day's counter rows (of every property, or only %(property_id)s)
-- into one row per counter, under backend_pid 0: every sum stays what it was, in fewer
-- rows. Only for a day no request adds to any more.
--
-- Returns the rows folded away.
WITH spread AS (
    DELETE FROM ingest_counters
     WHERE day = %(day)s
       AND backend_pid <> 0
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
    RETURNING property_id, kind, outcome, code, count
), folded AS (
    INSERT INTO ingest_counters AS c (property_id, day, kind, outcome, code, backend_pid, count)
    SELECT property_id, %(day)s::date, kind, outcome, code, 0, sum(count)
      FROM spread
     GROUP BY property_id, kind, outcome, code
    ON CONFLICT (property_id, day, kind, outcome, code, backend_pid) DO UPDATE
       SET count = c.count + EXCLUDED.count,
           updated_at = now()
)
SELECT count(*) AS folded FROM spread
