-- Index-only reads for the funnel's tenant cohort: the tenants created in a window with
-- their stages, and whether each completed a scan in the 30 days before the window's end.
CREATE INDEX tenant_milestones_cohort_idx
    ON tenant_milestones (tenant_created_at) INCLUDE (tenant_id, lead_id, first_api_key_at, first_scan_at);
CREATE INDEX service_usage_rollups_active_idx
    ON service_usage_rollups (tenant_id, day) WHERE scans_completed > 0;
