-- Marketing capture: visitors, sessions, events and page-view traffic logs from the site;
-- leads with consent, identities and form submissions; ingest accounting; the audit log;
-- and the daily salts of cookieless visitor ids. No column holds a raw IP or user agent.

-- A random salt per UTC day; a cookieless visitor id is a hash of property, IP and user
-- agent with that day's salt, so nobody can be followed across days. Deleted after 48 h.
CREATE TABLE visitor_salts (
    day         date        PRIMARY KEY,
    salt        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- visitor_key is "v:<the site's anonymous id>" or "c:<daily cookieless hash>".
CREATE TABLE visitors (
    id             uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    property_id    varchar(128) NOT NULL,
    visitor_key    varchar(160) NOT NULL,
    first_seen_at  timestamptz  NOT NULL,
    last_seen_at   timestamptz  NOT NULL,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT visitors_property_key UNIQUE (property_id, visitor_key)
);
CREATE INDEX visitors_last_seen_idx ON visitors (last_seen_at);

-- 30 minutes without an event ends a session; ended_at is set when the next one starts.
CREATE TABLE sessions (
    id                uuid          PRIMARY KEY,
    property_id       varchar(128)  NOT NULL,
    visitor_id        uuid          NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    started_at        timestamptz   NOT NULL,
    last_seen_at      timestamptz   NOT NULL,
    ended_at          timestamptz,
    landing_path      varchar(2048),
    exit_path         varchar(2048),
    traffic_source    varchar(32)   NOT NULL,
    referrer_host     varchar(255),
    utm_source        varchar(255),
    utm_medium        varchar(255),
    utm_campaign      varchar(255),
    utm_term          varchar(255),
    utm_content       varchar(255),
    click_id_type     varchar(32),
    device_type       varchar(16)   NOT NULL,
    country           char(2),
    page_views        integer       NOT NULL DEFAULT 0,
    is_conversion     boolean       NOT NULL DEFAULT false,
    created_at        timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX sessions_visitor_last_seen_idx ON sessions (visitor_id, last_seen_at DESC);
CREATE INDEX sessions_property_started_idx ON sessions (property_id, started_at);

-- Raw events; kept 90 days. A client event id is stored once per property (G5).
CREATE TABLE events (
    id               uuid          PRIMARY KEY,
    property_id      varchar(128)  NOT NULL,
    visitor_id       uuid          NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    session_id       uuid          NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    event_type       varchar(32)   NOT NULL,
    event_name       varchar(64),
    client_event_id  varchar(128)  NOT NULL,
    path             varchar(2048),
    title            varchar(512),
    occurred_at      timestamptz   NOT NULL,
    received_at      timestamptz   NOT NULL DEFAULT now(),
    properties       jsonb,
    -- client_event_id leads: it is the selective column, whatever the statistics say.
    CONSTRAINT events_property_client_event_key UNIQUE (client_event_id, property_id)
);
CREATE INDEX events_property_occurred_idx ON events (property_id, occurred_at);
CREATE INDEX events_session_idx ON events (session_id);
CREATE INDEX events_visitor_idx ON events (visitor_id);

-- One row per page view, with the session's dimensions and the page's vitals and
-- engagement (folded in as they arrive); the entrance, exit and conversion flags feed
-- the landing-page conversion metric.
CREATE TABLE web_traffic_logs (
    id                    uuid          PRIMARY KEY,
    event_id              uuid          NOT NULL UNIQUE REFERENCES events (id) ON DELETE CASCADE,
    property_id           varchar(128)  NOT NULL,
    visitor_id            uuid          NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    session_id            uuid          NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    occurred_at           timestamptz   NOT NULL,
    path                  varchar(2048) NOT NULL,
    referrer_host         varchar(255),
    traffic_source        varchar(32)   NOT NULL,
    utm_source            varchar(255),
    utm_medium            varchar(255),
    utm_campaign          varchar(255),
    utm_term              varchar(255),
    utm_content           varchar(255),
    click_id_type         varchar(32),
    device_type           varchar(16)   NOT NULL,
    country               char(2),
    fcp_ms                integer,
    lcp_ms                integer,
    inp_ms                integer,
    cls_score             real,
    ttfb_ms               integer,
    engaged_time_ms       integer,
    scroll_depth_percent  smallint,
    is_entrance           boolean       NOT NULL DEFAULT false,
    is_exit               boolean       NOT NULL DEFAULT false,
    is_conversion         boolean       NOT NULL DEFAULT false
);
CREATE INDEX web_traffic_logs_property_occurred_idx ON web_traffic_logs (property_id, occurred_at);
CREATE INDEX web_traffic_logs_session_idx ON web_traffic_logs (session_id);
CREATE INDEX web_traffic_logs_visitor_idx ON web_traffic_logs (visitor_id);

-- Leads: the only tables (with lead_identities, consent_records and form_submissions)
-- that hold personal data. First-touch attribution is copied onto the lead when it is
-- first captured, so it outlives the 90-day raw data.
ALTER TABLE leads
    ADD COLUMN property_id               varchar(128) NOT NULL DEFAULT 'default',
    ADD COLUMN visitor_id                uuid REFERENCES visitors (id) ON DELETE SET NULL,
    ADD COLUMN visitor_first_seen_at     timestamptz,
    ADD COLUMN first_touch_source        varchar(32),
    ADD COLUMN first_touch_referrer_host varchar(255),
    ADD COLUMN first_touch_utm_source    varchar(255),
    ADD COLUMN first_touch_utm_medium    varchar(255),
    ADD COLUMN first_touch_utm_campaign  varchar(255),
    ADD COLUMN consent_status            varchar(16)  NOT NULL DEFAULT 'none',
    ADD COLUMN consent_wording_version   varchar(64),
    ADD COLUMN consent_updated_at        timestamptz,
    ADD CONSTRAINT leads_consent_status_check CHECK (consent_status IN ('none', 'granted', 'withdrawn'));
CREATE INDEX leads_property_first_captured_idx ON leads (property_id, first_captured_at);

-- Every visitor id a lead has been seen with (devices, cleared storage).
CREATE TABLE lead_identities (
    lead_id          uuid        NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    visitor_id       uuid        NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    first_linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_id, visitor_id)
);
CREATE INDEX lead_identities_visitor_idx ON lead_identities (visitor_id);

-- Proof of consent: every grant or withdrawal with its time, source and wording version.
CREATE TABLE consent_records (
    id               uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    lead_id          uuid         NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    purpose          varchar(32)  NOT NULL DEFAULT 'marketing_email',
    status           varchar(16)  NOT NULL CHECK (status IN ('granted', 'withdrawn')),
    source           varchar(160) NOT NULL,
    wording_version  varchar(64),
    occurred_at      timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX consent_records_lead_idx ON consent_records (lead_id, occurred_at);

-- The form's other fields, for the submission record; scrubbed on delete-by-email.
CREATE TABLE form_submissions (
    id            uuid          PRIMARY KEY,
    property_id   varchar(128)  NOT NULL,
    lead_id       uuid          REFERENCES leads (id) ON DELETE SET NULL,
    visitor_id    uuid          REFERENCES visitors (id) ON DELETE SET NULL,
    session_id    uuid          REFERENCES sessions (id) ON DELETE SET NULL,
    form_id       varchar(128)  NOT NULL,
    path          varchar(2048),
    payload       jsonb,
    submitted_at  timestamptz   NOT NULL
);
CREATE INDEX form_submissions_lead_idx ON form_submissions (lead_id);
CREATE INDEX form_submissions_property_submitted_idx ON form_submissions (property_id, submitted_at);

-- Ingest accounting per property and UTC day: accepted, rejected (by error code),
-- duplicate and bot events and leads. Counters, so increments are right here.
CREATE TABLE ingest_counters (
    property_id  varchar(128) NOT NULL,
    day          date         NOT NULL,
    kind         varchar(16)  NOT NULL CHECK (kind IN ('event', 'lead')),
    outcome      varchar(16)  NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'duplicate', 'bot')),
    code         varchar(64)  NOT NULL DEFAULT '',
    count        bigint       NOT NULL DEFAULT 0,
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (property_id, day, kind, outcome, code)
);
CREATE INDEX ingest_counters_day_idx ON ingest_counters (day);

-- Sensitive operations (deletes, consent changes, admin calls), never with an email.
CREATE TABLE audit_log (
    id            bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at   timestamptz   NOT NULL DEFAULT now(),
    actor         varchar(32)   NOT NULL,
    action        varchar(64)   NOT NULL,
    subject_type  varchar(32),
    subject_id    varchar(128),
    request_id    varchar(128),
    details       jsonb
);
CREATE INDEX audit_log_occurred_idx ON audit_log (occurred_at);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_type, subject_id);

-- The retention purge walks time columns; BRIN indexes serve those range scans of
-- append-mostly tables for almost no write cost.
CREATE INDEX events_occurred_brin ON events USING brin (occurred_at);
CREATE INDEX web_traffic_logs_occurred_brin ON web_traffic_logs USING brin (occurred_at);
CREATE INDEX tenant_events_occurred_brin ON tenant_events USING brin (occurred_at);
CREATE INDEX sessions_last_seen_brin ON sessions USING brin (last_seen_at);
