-- The daily read model: marketing and ingest rollups per property, service usage per
-- tenant, each a UTC day recomputed whole and replaced; and the ledger of rollup runs
-- that freshness is read from. Sums and counts are stored (never averages) wherever a
-- window average must be exact: a window's average is its sums over its counts.

CREATE TABLE daily_metric_rollups (
    id                             uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    property_id                    varchar(128) NOT NULL,
    day                            date         NOT NULL,
    unique_visitors                integer      NOT NULL DEFAULT 0,
    returning_visitors             integer      NOT NULL DEFAULT 0,
    -- HyperLogLog of the day's visitor ids (funnel.sketch), merged across days for a
    -- window's unique visitors.
    visitors_sketch                bytea,
    -- {"organic_search": "<base64 sketch>", ...}: the day's visitors per traffic source,
    -- for the funnel by channel
    source_visitor_sketches        jsonb        NOT NULL DEFAULT '{}',
    total_page_views               integer      NOT NULL DEFAULT 0,
    total_sessions                 integer      NOT NULL DEFAULT 0,
    total_entrances                integer      NOT NULL DEFAULT 0,
    total_exits                    integer      NOT NULL DEFAULT 0,
    total_conversions              integer      NOT NULL DEFAULT 0,
    form_starts                    integer      NOT NULL DEFAULT 0,
    form_submits                   integer      NOT NULL DEFAULT 0,
    new_leads                      integer      NOT NULL DEFAULT 0,
    time_to_first_capture_sum_ms   bigint       NOT NULL DEFAULT 0,
    time_to_first_capture_count    integer      NOT NULL DEFAULT 0,
    -- {"direct": page views, "organic_search": ..., ...}
    traffic_source_breakdown       jsonb        NOT NULL DEFAULT '{}',
    -- [{"path": "/", "entrances": n, "conversions": m}, ...] the day's top landing paths
    top_landing_paths              jsonb        NOT NULL DEFAULT '[]',
    generated_at                   timestamptz  NOT NULL DEFAULT now(),
    created_at                     timestamptz  NOT NULL DEFAULT now(),
    updated_at                     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT daily_metric_rollups_property_day_key UNIQUE (property_id, day)
);
CREATE INDEX daily_metric_rollups_day_idx ON daily_metric_rollups (day);

CREATE TABLE daily_ingest_rollups (
    id                uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    property_id       varchar(128) NOT NULL,
    day               date         NOT NULL,
    events_accepted   integer      NOT NULL DEFAULT 0,
    events_rejected   integer      NOT NULL DEFAULT 0,
    events_duplicate  integer      NOT NULL DEFAULT 0,
    events_bot        integer      NOT NULL DEFAULT 0,
    leads_accepted    integer      NOT NULL DEFAULT 0,
    leads_rejected    integer      NOT NULL DEFAULT 0,
    p95_ttfb_ms       integer,
    -- page views with a TTFB: the weight of p95_ttfb_ms in a window's event-weighted p95
    ttfb_samples      integer      NOT NULL DEFAULT 0,
    -- {"event:validation_failed": n, "lead:invalid_redirect": m, ...}
    error_breakdown   jsonb        NOT NULL DEFAULT '{}',
    generated_at      timestamptz  NOT NULL DEFAULT now(),
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT daily_ingest_rollups_property_day_key UNIQUE (property_id, day)
);
CREATE INDEX daily_ingest_rollups_day_idx ON daily_ingest_rollups (day);

CREATE TABLE service_usage_rollups (
    id                     uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    day                    date         NOT NULL,
    tenant_id              varchar(128) NOT NULL,
    scans_completed        integer      NOT NULL DEFAULT 0,
    scans_failed           integer      NOT NULL DEFAULT 0,
    media_processed        integer      NOT NULL DEFAULT 0,
    identities_detected    integer      NOT NULL DEFAULT 0,
    clusters_created       integer      NOT NULL DEFAULT 0,
    suggestions_generated  integer      NOT NULL DEFAULT 0,
    suggestions_resolved   integer      NOT NULL DEFAULT 0,
    -- seed 001's column, kept for readers of one day; windows use the sum and count
    avg_scan_duration_ms   integer,
    scan_duration_sum_ms   bigint       NOT NULL DEFAULT 0,
    scan_duration_count    integer      NOT NULL DEFAULT 0,
    generated_at           timestamptz  NOT NULL DEFAULT now(),
    created_at             timestamptz  NOT NULL DEFAULT now(),
    updated_at             timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT service_usage_rollups_tenant_day_key UNIQUE (tenant_id, day)
);
CREATE INDEX service_usage_rollups_day_idx ON service_usage_rollups (day);

-- Every rollup run: what it covered and how it ended. Freshness is a query of this.
CREATE TABLE rollup_runs (
    id            uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    trigger       varchar(16)  NOT NULL CHECK (trigger IN ('schedule', 'invoke', 'cli')),
    from_day      date         NOT NULL,
    to_day        date         NOT NULL,
    property_id   varchar(128),
    dry_run       boolean      NOT NULL DEFAULT false,
    status        varchar(16)  NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    days          integer      NOT NULL DEFAULT 0,
    rows_written  integer      NOT NULL DEFAULT 0,
    discrepancies integer      NOT NULL DEFAULT 0,
    error         text,
    started_at    timestamptz  NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX rollup_runs_finished_idx ON rollup_runs (status, finished_at DESC);
