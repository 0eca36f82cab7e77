-- Visitors last seen before the first kept day with no session left after the session
-- purge: every session of theirs is old and has no event on or after the first kept
-- day (the same rule as purge_orphan_sessions, so a dry run counts what a run deletes),
-- and no such event names them directly. Their lead_identities go with them (cascade);
-- leads and form submissions only lose the link. The age is checked again on the row
-- being deleted, so a visitor who returns meanwhile stays.
WITH batch AS (
    SELECT v.id
      FROM visitors v
     WHERE v.last_seen_at < %(cutoff_at)s
       AND NOT EXISTS (SELECT 1
                         FROM sessions s
                        WHERE s.visitor_id = v.id
                          AND (s.last_seen_at >= %(cutoff_at)s
                               OR EXISTS (SELECT 1
                                            FROM events e
                                           WHERE e.session_id = s.id
                                             AND e.occurred_at >= %(cutoff_at)s)))
       AND NOT EXISTS (SELECT 1
                         FROM events e
                        WHERE e.visitor_id = v.id
                          AND e.occurred_at >= %(cutoff_at)s)
     ORDER BY v.last_seen_at
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM visitors
     WHERE id IN (SELECT id FROM batch)
       AND last_seen_at < %(cutoff_at)s
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
