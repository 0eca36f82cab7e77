-- Raw description-service events that occurred before the first kept day (their
-- webhook_deliveries go with them); tenant_milestones keep what the funnel needs.
WITH batch AS (
    SELECT id
      FROM tenant_events
     WHERE occurred_at < %(cutoff_at)s
     ORDER BY occurred_at
     LIMIT %(limit)s::bigint
), deleted AS (
    DELETE FROM tenant_events
     WHERE id IN (SELECT id FROM batch)
       AND NOT %(dry_run)s::boolean
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch)   AS matched,
       (SELECT count(*) FROM deleted) AS deleted
