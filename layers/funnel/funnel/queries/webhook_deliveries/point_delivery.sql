-- A new webhook-id that turned out to carry an event already stored under another id:
-- point it at that event, so its redeliveries answer with the same eventId.
UPDATE webhook_deliveries
   SET event_id = %(event_id)s
 WHERE webhook_id = %(webhook_id)s
