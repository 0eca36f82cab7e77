-- One UTC day's description-service usage per tenant, from its tenant events by
-- occurred_at. Media, identities, suggestions generated and durations come from
-- completed scans only: a failed scan counts in scans_failed and nowhere else. The
-- average duration is rounded half away from zero; windows use the sum and count.
WITH usage AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE event_type = 'scan.completed')                AS scans_completed,
           count(*) FILTER (WHERE event_type = 'scan.failed')                   AS scans_failed,
           coalesce(sum((payload ->> 'mediaCount')::bigint)
                        FILTER (WHERE event_type = 'scan.completed'), 0)::bigint AS media_processed,
           coalesce(sum((payload ->> 'identitiesDetected')::bigint)
                        FILTER (WHERE event_type = 'scan.completed'), 0)::bigint AS identities_detected,
           count(*) FILTER (WHERE event_type = 'cluster.created')               AS clusters_created,
           coalesce(sum((payload ->> 'suggestionsGenerated')::bigint)
                        FILTER (WHERE event_type = 'scan.completed'), 0)::bigint AS suggestions_generated,
           count(*) FILTER (WHERE event_type = 'suggestion.resolved')           AS suggestions_resolved,
           coalesce(sum((payload ->> 'durationMs')::bigint)
                        FILTER (WHERE event_type = 'scan.completed'), 0)::bigint AS scan_duration_sum_ms,
           count(payload ->> 'durationMs') FILTER (WHERE event_type = 'scan.completed') AS scan_duration_count
      FROM tenant_events
     WHERE occurred_at >= %(day_start)s
       AND occurred_at < %(day_end)s
       AND event_type IN ('scan.completed', 'scan.failed', 'cluster.created', 'suggestion.resolved')
     GROUP BY tenant_id
)
SELECT *,
       round(scan_duration_sum_ms::numeric / nullif(scan_duration_count, 0))::integer AS avg_scan_duration_ms
  FROM usage
 ORDER BY tenant_id
