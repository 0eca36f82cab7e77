-- Store one tenant event; returns nothing when the same tenant, type, occurredAt and
-- subject are already stored (the duplicate rule), waiting for a concurrent insert.
INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, payload, lead_id, occurred_at)
VALUES (%(id)s, %(tenant_id)s, %(event_type)s, %(subject_id)s, %(payload)s, %(lead_id)s, %(occurred_at)s)
ON CONFLICT ON CONSTRAINT tenant_events_dedup_key DO NOTHING
RETURNING id
