-- Fold one event into its tenant's milestones. Every argument may be NULL; LEAST and
-- GREATEST ignore NULLs, so events may arrive in any order and a replay changes nothing.
INSERT INTO tenant_milestones AS m
       (tenant_id, tenant_created_at, lead_id, first_api_key_at, first_scan_at, last_scan_at)
VALUES (%(tenant_id)s, %(tenant_created_at)s, %(lead_id)s, %(api_key_at)s, %(scan_at)s, %(scan_at)s)
ON CONFLICT (tenant_id) DO UPDATE
   SET tenant_created_at = LEAST(m.tenant_created_at, EXCLUDED.tenant_created_at),
       lead_id           = COALESCE(m.lead_id, EXCLUDED.lead_id),
       first_api_key_at  = LEAST(m.first_api_key_at, EXCLUDED.first_api_key_at),
       first_scan_at     = LEAST(m.first_scan_at, EXCLUDED.first_scan_at),
       last_scan_at      = GREATEST(m.last_scan_at, EXCLUDED.last_scan_at),
       updated_at        = now()
