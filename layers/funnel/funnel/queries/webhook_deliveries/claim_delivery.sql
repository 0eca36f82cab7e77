-- Claim a webhook-id for this transaction's event. Returns nothing when the id was
-- already claimed (a redelivery); a concurrent claim waits for the other transaction.
INSERT INTO webhook_deliveries (webhook_id, body_sha256, event_id)
VALUES (%(webhook_id)s, %(body_sha256)s, %(event_id)s)
ON CONFLICT (webhook_id) DO NOTHING
RETURNING event_id
