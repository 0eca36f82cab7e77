-- Sessions last seen before the first kept day with no event left after the raw purge,
-- so that pseudonymous rows do not outlive raw retention (docs/privacy.md#retention).
-- "Left" means an event on or after the first kept day, so a dry run, which deletes no
-- event, counts the same sessions a run deletes. The age is checked again
-- on the row being deleted, so a session that comes back to life meanwhile stays.
WITH batch AS (
    SELECT s.id
      FROM sessions s
     WHERE s.last_seen_at < %(cutoff_at)s
       AND NOT EXISTS (SELECT 1
                         FROM events e
                        WHERE e.session_id = s.id
                          AND e.occurred_at >= %(cutoff_at)s)
     ORDER BY s.last_seen_at
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM sessions
     WHERE id IN (SELECT id FROM batch)
       AND last_seen_at < %(cutoff_at)s
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
