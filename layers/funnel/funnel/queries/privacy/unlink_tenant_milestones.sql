-- Detach a lead from the tenant milestones attributed to it; the funnel keeps the tenant.
UPDATE tenant_milestones
   SET lead_id    = NULL,
       updated_at = now()
 WHERE lead_id = %(lead_id)s
