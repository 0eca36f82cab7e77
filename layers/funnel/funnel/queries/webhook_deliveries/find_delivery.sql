-- The stored delivery of a webhook-id: its body hash and the event it produced.
SELECT body_sha256, event_id
  FROM webhook_deliveries
 WHERE webhook_id = %(webhook_id)s
