-- One row per day from_day..to_day, in order, zeros for days nothing was rolled up: the
-- day's completed scans, media processed and identities detected, of one tenant or of
-- every tenant when tenant_id is NULL.
SELECT series.day::date                         AS day,
       coalesce(sum(u.scans_completed), 0)      AS scans_completed,
       coalesce(sum(u.media_processed), 0)      AS media_processed,
       coalesce(sum(u.identities_detected), 0)  AS identities_detected
  FROM generate_series(%(from_day)s::date, %(to_day)s::date, interval '1 day') AS series (day)
  LEFT JOIN service_usage_rollups u
         ON u.day = series.day::date
        AND (%(tenant_id)s::text IS NULL OR u.tenant_id = %(tenant_id)s::text)
 GROUP BY series.day
 ORDER BY series.day
