-- Indexes for the metrics API. Every request first checks whether its cached answer is
-- still current by the newest generated_at of each rollup table (queries/metrics/
-- find_data_version.sql): with these, each max() is one index probe instead of a scan
-- of a table that grows with tenants and days. The funnel counts the leads first captured
-- in a window of every property: property_id leads leads_property_first_captured_idx, so
-- that range needs its own index.
CREATE INDEX daily_metric_rollups_generated_idx ON daily_metric_rollups (generated_at);
CREATE INDEX daily_ingest_rollups_generated_idx ON daily_ingest_rollups (generated_at);
CREATE INDEX service_usage_rollups_generated_idx ON service_usage_rollups (generated_at);
CREATE INDEX leads_first_captured_idx ON leads (first_captured_at);
