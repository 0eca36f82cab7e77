-- Detach a lead from the tenant events attributed to it (docs/privacy.md#delete-by-email:
-- the usage event is not personal and stays). The foreign key would do the same on delete; doing it
-- here counts the rows for the audit entry.
UPDATE tenant_events
   SET lead_id = NULL
 WHERE lead_id = %(lead_id)s
