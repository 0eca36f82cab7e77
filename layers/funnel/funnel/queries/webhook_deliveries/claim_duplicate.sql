-- A delivery whose event duplicates a stored one (same tenant, type, occurredAt and
-- subject): find that event and claim the delivery's webhook-id (when it has one) for it,
-- so the id's redeliveries answer with the same eventId.
--
-- Returns event_id (NULL when no such event is stored any more: a purge removed it since)
-- and claimed (false without a webhook-id, or when the id was claimed meanwhile).
WITH existing AS (
    SELECT id
      FROM tenant_events
     WHERE tenant_id   = %(tenant_id)s
       AND event_type  = %(event_type)s
       AND occurred_at = %(occurred_at)s
       AND subject_id  = %(subject_id)s
), claim AS (
    INSERT INTO webhook_deliveries (webhook_id, body_sha256, event_id)
    SELECT %(webhook_id)s::text, %(body_sha256)s::bytea, existing.id
      FROM existing
     WHERE %(webhook_id)s::text IS NOT NULL
    ON CONFLICT (webhook_id) DO NOTHING
    RETURNING event_id
)
SELECT (SELECT id FROM existing)    AS event_id,
       EXISTS (SELECT 1 FROM claim) AS claimed
