-- Page views that occurred before the first kept day and outlived their event's purge
-- (normally none: they go with their event). Those whose event is itself expiring are
-- left to that cascade, so a dry run does not count them twice.
WITH batch AS (
    SELECT w.id
      FROM web_traffic_logs w
     WHERE w.occurred_at < %(cutoff_at)s
       AND NOT EXISTS (SELECT 1
                         FROM events e
                        WHERE e.id = w.event_id
                          AND e.occurred_at < %(cutoff_at)s)
     ORDER BY w.occurred_at
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM web_traffic_logs
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
