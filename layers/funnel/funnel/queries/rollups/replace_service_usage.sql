-- Replace one UTC day's service usage rollups: upsert the recomputed row of each tenant
-- (one array per column, tenant_ids first) and delete the day's rows of tenants that no
-- longer have usage that day. Returns the rows upserted and deleted.
WITH fresh AS (
    SELECT *
      FROM unnest(%(tenant_ids)s::text[], %(scans_completed)s::integer[], %(scans_failed)s::integer[],
                  %(media_processed)s::integer[], %(identities_detected)s::integer[],
                  %(clusters_created)s::integer[], %(suggestions_generated)s::integer[],
                  %(suggestions_resolved)s::integer[], %(avg_scan_duration_ms)s::integer[],
                  %(scan_duration_sum_ms)s::bigint[], %(scan_duration_count)s::integer[])
           AS f (tenant_id, scans_completed, scans_failed, media_processed, identities_detected,
                 clusters_created, suggestions_generated, suggestions_resolved, avg_scan_duration_ms,
                 scan_duration_sum_ms, scan_duration_count)
), upserted AS (
    INSERT INTO service_usage_rollups
           (tenant_id, day, scans_completed, scans_failed, media_processed, identities_detected,
            clusters_created, suggestions_generated, suggestions_resolved, avg_scan_duration_ms,
            scan_duration_sum_ms, scan_duration_count, generated_at)
    SELECT tenant_id, %(day)s::date, scans_completed, scans_failed, media_processed, identities_detected,
           clusters_created, suggestions_generated, suggestions_resolved, avg_scan_duration_ms,
           scan_duration_sum_ms, scan_duration_count, %(generated_at)s
      FROM fresh
    ON CONFLICT ON CONSTRAINT service_usage_rollups_tenant_day_key DO UPDATE
       SET scans_completed       = EXCLUDED.scans_completed,
           scans_failed          = EXCLUDED.scans_failed,
           media_processed       = EXCLUDED.media_processed,
           identities_detected   = EXCLUDED.identities_detected,
           clusters_created      = EXCLUDED.clusters_created,
           suggestions_generated = EXCLUDED.suggestions_generated,
           suggestions_resolved  = EXCLUDED.suggestions_resolved,
           avg_scan_duration_ms  = EXCLUDED.avg_scan_duration_ms,
           scan_duration_sum_ms  = EXCLUDED.scan_duration_sum_ms,
           scan_duration_count   = EXCLUDED.scan_duration_count,
           generated_at          = EXCLUDED.generated_at,
           updated_at            = now()
    RETURNING 1
), deleted AS (
    DELETE FROM service_usage_rollups
     WHERE day = %(day)s::date
       AND tenant_id <> ALL (%(tenant_ids)s::text[])
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted) AS upserted,
       (SELECT count(*) FROM deleted)  AS deleted
