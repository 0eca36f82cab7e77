-- What the rollup function needs beyond 0003: the ledger learns what a run covered and
-- what its discrepancy monitor found, and sessions get a range index on their start.

-- A run rolls up everything ('all'), the marketing and ingest tables only ('marketing',
-- of every property or of property_id) or service usage only ('service_usage').
-- Freshness counts only runs of the whole read model, and the discrepancy monitor only
-- trusts a day's rows to a run that wrote that table.
ALTER TABLE rollup_runs
    ADD COLUMN scope               varchar(16) NOT NULL DEFAULT 'all'
               CHECK (scope IN ('all', 'marketing', 'service_usage')),
    -- days of the range left alone because their raw data is past retention
    ADD COLUMN skipped_days        integer     NOT NULL DEFAULT 0,
    -- [{"day", "kind", "key", "metric", "raw", "rolledUp"}, ...]: what `discrepancies` counts
    ADD COLUMN discrepancy_details jsonb       NOT NULL DEFAULT '[]',
    ADD CONSTRAINT rollup_runs_property_scope_check CHECK (property_id IS NULL OR scope = 'marketing');

-- A day's sessions are found by started_at; the only index on it leads with property_id.
-- Sessions are written close to their start, so a BRIN index serves the range for
-- almost no write cost, as for the other time columns (0002).
CREATE INDEX sessions_started_brin ON sessions USING brin (started_at);
