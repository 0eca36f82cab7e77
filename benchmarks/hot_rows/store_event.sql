-- bench-concurrency's baseline: the layer's statement before 0009, every delivery
-- of a tenant that marks a milestone updating the tenant's row.
--
-- Store one webhook event in a single statement: claim its webhook-id (when it has one),
-- insert the event only if the claim succeeded, attribute it to the lead with the given
-- normalised email, and fold it into its tenant's milestones.
--
-- Returns stored: true when the event was stored, false when its webhook-id was already
-- claimed (a redelivery, or the id reused for another body). An event that duplicates a
-- stored one (same tenant, type, occurredAt and subject) fails the statement on
-- tenant_events_dedup_key and writes nothing; webhook_deliveries/claim_duplicate answers
-- it. The event's INSERT has no ON CONFLICT clause on purpose: new events are the common
-- case, and a plain insert spares each of them the speculative insertion that clause
-- costs. Conflicting concurrent inserts wait for each other, so the outcome is the same
-- under any interleaving. LEAST and GREATEST ignore NULLs, so milestones accept events in
-- any order.
WITH claim AS (
    INSERT INTO webhook_deliveries (webhook_id, body_sha256, event_id)
    SELECT %(webhook_id)s::text, %(body_sha256)s::bytea, %(id)s::uuid
     WHERE %(webhook_id)s::text IS NOT NULL
    ON CONFLICT (webhook_id) DO NOTHING
    RETURNING event_id
), stored AS (
    INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, payload, lead_id, occurred_at)
    SELECT %(id)s::uuid, %(tenant_id)s::text, %(event_type)s::text, %(subject_id)s::text,
           %(payload)s::jsonb,
           -- Only tenant.created carries an email; other events skip the lookup.
           CASE WHEN %(email_normalized)s::text IS NOT NULL
                THEN (SELECT id FROM leads WHERE email_normalized = %(email_normalized)s::text)
           END,
           %(occurred_at)s::timestamptz
     WHERE %(webhook_id)s::text IS NULL OR EXISTS (SELECT 1 FROM claim)
    RETURNING lead_id
), milestones AS (
    -- tenant.created sets when the tenant was created (and its lead), apikey.created its
    -- first API key, scan.completed its first and last scan; other events leave them be.
    INSERT INTO tenant_milestones AS m
           (tenant_id, tenant_created_at, lead_id, first_api_key_at, first_scan_at, last_scan_at)
    SELECT %(tenant_id)s::text,
           CASE WHEN %(event_type)s::text = 'tenant.created' THEN %(occurred_at)s::timestamptz END,
           stored.lead_id,
           CASE WHEN %(event_type)s::text = 'apikey.created' THEN %(occurred_at)s::timestamptz END,
           CASE WHEN %(event_type)s::text = 'scan.completed' THEN %(occurred_at)s::timestamptz END,
           CASE WHEN %(event_type)s::text = 'scan.completed' THEN %(occurred_at)s::timestamptz END
      FROM stored
     WHERE %(event_type)s::text IN ('tenant.created', 'apikey.created', 'scan.completed')
    ON CONFLICT (tenant_id) DO UPDATE
       SET tenant_created_at = LEAST(m.tenant_created_at, EXCLUDED.tenant_created_at),
           lead_id           = COALESCE(m.lead_id, EXCLUDED.lead_id),
           first_api_key_at  = LEAST(m.first_api_key_at, EXCLUDED.first_api_key_at),
           first_scan_at     = LEAST(m.first_scan_at, EXCLUDED.first_scan_at),
           last_scan_at      = GREATEST(m.last_scan_at, EXCLUDED.last_scan_at),
           updated_at        = now()
)
SELECT EXISTS (SELECT 1 FROM stored) AS stored
