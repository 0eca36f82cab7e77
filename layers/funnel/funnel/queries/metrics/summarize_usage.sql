-- Description-service usage of the days from_day..to_day, of one tenant or of every
-- tenant when tenant_id is NULL: the sums every usage metric is a ratio of. One row.
SELECT coalesce(sum(scans_completed), 0)       AS scans_completed,
       coalesce(sum(scans_failed), 0)          AS scans_failed,
       coalesce(sum(media_processed), 0)       AS media_processed,
       coalesce(sum(identities_detected), 0)   AS identities_detected,
       coalesce(sum(clusters_created), 0)      AS clusters_created,
       coalesce(sum(suggestions_generated), 0) AS suggestions_generated,
       coalesce(sum(suggestions_resolved), 0)  AS suggestions_resolved,
       coalesce(sum(scan_duration_sum_ms), 0)::bigint AS scan_duration_sum_ms,
       coalesce(sum(scan_duration_count), 0)   AS scan_duration_count
  FROM service_usage_rollups
 WHERE day BETWEEN %(from_day)s::date AND %(to_day)s::date
   AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s::text)
