"""The description service's webhooks: the envelope's schemas and the idempotent ingest that
attributes tenants to leads and keeps their funnel milestones."""
