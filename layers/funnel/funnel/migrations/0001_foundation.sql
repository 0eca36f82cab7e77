-- Foundation: leads (the attribution target), tenant events from the description
-- service, their delivery ledger, and per-tenant funnel milestones.

CREATE TABLE leads (
    id                 uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    email_normalized   varchar(320) NOT NULL,
    first_captured_at  timestamptz  NOT NULL DEFAULT now(),
    last_captured_at   timestamptz  NOT NULL DEFAULT now(),
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT leads_email_normalized_key UNIQUE (email_normalized)
);

-- Raw lifecycle and usage events; kept 90 days. subject_id is the id of what the event
-- is about (job, cluster, suggestion, key prefix; '' for tenant.created), so the
-- duplicate rule (same tenant, type and occurredAt) never merges two different jobs.
CREATE TABLE tenant_events (
    id           uuid         PRIMARY KEY,
    tenant_id    varchar(128) NOT NULL,
    event_type   varchar(64)  NOT NULL,
    subject_id   varchar(128) NOT NULL DEFAULT '',
    payload      jsonb,
    lead_id      uuid         REFERENCES leads (id) ON DELETE SET NULL,
    occurred_at  timestamptz  NOT NULL,
    received_at  timestamptz  NOT NULL DEFAULT now(),
    created_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT tenant_events_dedup_key UNIQUE (tenant_id, event_type, occurred_at, subject_id)
);
CREATE INDEX tenant_events_tenant_occurred_idx ON tenant_events (tenant_id, occurred_at);
CREATE INDEX tenant_events_type_occurred_idx ON tenant_events (event_type, occurred_at);
CREATE INDEX tenant_events_lead_idx ON tenant_events (lead_id) WHERE lead_id IS NOT NULL;

-- One row per webhook-id: a redelivery answers with the event it first produced.
-- Deleted with that event when raw events expire.
CREATE TABLE webhook_deliveries (
    webhook_id   varchar(255) PRIMARY KEY,
    body_sha256  bytea        NOT NULL,
    event_id     uuid         NOT NULL
                 REFERENCES tenant_events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    received_at  timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- The funnel's memory of each tenant: raw events expire after 90 days, these do not.
CREATE TABLE tenant_milestones (
    tenant_id          varchar(128) PRIMARY KEY,
    tenant_created_at  timestamptz,
    lead_id            uuid         REFERENCES leads (id) ON DELETE SET NULL,
    first_api_key_at   timestamptz,
    first_scan_at      timestamptz,
    last_scan_at       timestamptz,
    updated_at         timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX tenant_milestones_created_idx ON tenant_milestones (tenant_created_at);
CREATE INDEX tenant_milestones_lead_idx ON tenant_milestones (lead_id) WHERE lead_id IS NOT NULL;
