-- Form submissions (a lead form's other fields, which may hold personal information)
-- submitted before the first kept raw day: raw capture data, kept no longer than the
-- events of the same visit. The lead they made stays.
WITH batch AS (
    SELECT id
      FROM form_submissions
     WHERE submitted_at < %(cutoff_at)s
     ORDER BY submitted_at
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM form_submissions
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
