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
-- under any interleaving.
--
-- Milestones only move one way (the earliest creation, API key and first scan, a lead
-- once known, the latest day with a scan and that day's earliest scan), so events fold in
-- in any order. The tenant's row is written only when the event moves one: most of a
-- busy tenant's deliveries (a batch scan's jobs, all on a day that already has a scan)
-- neither write nor lock it. That test is made on the row as the statement's snapshot
-- has it; a newer version has only moved further, so an event that moves nothing there
-- moves nothing in it either. A row that is written is locked and the test made again on
-- its newest version before writing, and a tenant without a row gets one inserted
-- (merged, if another delivery inserts it first).
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
), marks AS (
    -- tenant.created marks when the tenant was created (and its lead), apikey.created its
    -- first API key, scan.completed its first and latest scan; other events mark nothing.
    SELECT %(tenant_id)s::text AS tenant_id,
           CASE WHEN %(event_type)s::text = 'tenant.created' THEN %(occurred_at)s::timestamptz END
               AS tenant_created_at,
           stored.lead_id,
           CASE WHEN %(event_type)s::text = 'apikey.created' THEN %(occurred_at)s::timestamptz END
               AS first_api_key_at,
           CASE WHEN %(event_type)s::text = 'scan.completed' THEN %(occurred_at)s::timestamptz END
               AS first_scan_at,
           CASE WHEN %(event_type)s::text = 'scan.completed' THEN %(occurred_at)s::timestamptz END
               AS last_scan_at
      FROM stored
     WHERE %(event_type)s::text IN ('tenant.created', 'apikey.created', 'scan.completed')
), moved AS (
    UPDATE tenant_milestones AS m
       SET tenant_created_at = LEAST(m.tenant_created_at, e.tenant_created_at),
           lead_id           = COALESCE(m.lead_id, e.lead_id),
           first_api_key_at  = LEAST(m.first_api_key_at, e.first_api_key_at),
           first_scan_at     = LEAST(m.first_scan_at, e.first_scan_at),
           -- A scan on a later UTC day, or earlier on the same day, replaces the stored one.
           last_scan_at      = CASE WHEN m.last_scan_at IS NULL
                                      OR (date(e.last_scan_at AT TIME ZONE 'UTC'), m.last_scan_at)
                                       > (date(m.last_scan_at AT TIME ZONE 'UTC'), e.last_scan_at)
                                    THEN COALESCE(e.last_scan_at, m.last_scan_at)
                                    ELSE m.last_scan_at
                               END,
           updated_at        = now()
      FROM marks AS e
     WHERE m.tenant_id = e.tenant_id
       AND (   e.tenant_created_at < COALESCE(m.tenant_created_at, 'infinity')
            OR (e.lead_id IS NOT NULL AND m.lead_id IS NULL)
            OR e.first_api_key_at < COALESCE(m.first_api_key_at, 'infinity')
            OR e.first_scan_at < COALESCE(m.first_scan_at, 'infinity')
            OR (e.last_scan_at IS NOT NULL AND m.last_scan_at IS NULL)
            OR (date(e.last_scan_at AT TIME ZONE 'UTC'), m.last_scan_at)
             > (date(m.last_scan_at AT TIME ZONE 'UTC'), e.last_scan_at))
), created AS (
    INSERT INTO tenant_milestones AS m
           (tenant_id, tenant_created_at, lead_id, first_api_key_at, first_scan_at, last_scan_at)
    SELECT e.tenant_id, e.tenant_created_at, e.lead_id, e.first_api_key_at, e.first_scan_at, e.last_scan_at
      FROM marks AS e
     WHERE NOT EXISTS (SELECT 1 FROM tenant_milestones AS t WHERE t.tenant_id = e.tenant_id)
    ON CONFLICT (tenant_id) DO UPDATE
       SET tenant_created_at = LEAST(m.tenant_created_at, EXCLUDED.tenant_created_at),
           lead_id           = COALESCE(m.lead_id, EXCLUDED.lead_id),
           first_api_key_at  = LEAST(m.first_api_key_at, EXCLUDED.first_api_key_at),
           first_scan_at     = LEAST(m.first_scan_at, EXCLUDED.first_scan_at),
           last_scan_at      = CASE WHEN m.last_scan_at IS NULL
                                      OR (date(EXCLUDED.last_scan_at AT TIME ZONE 'UTC'), m.last_scan_at)
                                       > (date(m.last_scan_at AT TIME ZONE 'UTC'), EXCLUDED.last_scan_at)
                                    THEN COALESCE(EXCLUDED.last_scan_at, m.last_scan_at)
                                    ELSE m.last_scan_at
                               END,
           updated_at        = now()
)
SELECT EXISTS (SELECT 1 FROM stored) AS stored
