-- Fewer index writes per webhook delivery, without losing a read.
--
-- tenant_milestones_created_idx (tenant_created_at) has the key of
-- tenant_milestones_cohort_idx (0006), which serves every read it served, index-only; a
-- milestone update that moves a stage (first API key, first scan) wrote both.
--
-- tenant_events_tenant_occurred_idx (tenant_id, occurred_at) serves no query: a tenant's
-- events are found by the duplicate rule's key, which leads with tenant_id, and reads by
-- time use tenant_events_type_occurred_idx or the BRIN index on occurred_at. Every event
-- paid for it on insert.
DROP INDEX tenant_milestones_created_idx;
DROP INDEX tenant_events_tenant_occurred_idx;
