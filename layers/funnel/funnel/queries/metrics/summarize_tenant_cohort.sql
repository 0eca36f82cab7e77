-- The tenant stages of the funnel (docs/metrics.md#funnel-cohort): the tenants created in
-- [start_at, end_at) (one tenant when tenant_id is given), and how many of them had a
-- lead (of property_id, when given), an API key and a completed scan by end_at, and a
-- completed scan on a day of active_from..to_day; with the median and mean hours from
-- creation to first scan over those that scanned by end_at.
--
-- Active is read from the milestone's first and last completed scans when they settle it
-- (none since active_from: not active; the last one, or the first, within the 30 days:
-- active, even before the rollups have counted it, as tenantsWithFirstScan is), and
-- otherwise, for a tenant that also scanned after the window, from service_usage_rollups (which outlive raw events): a
-- window ending today reads no usage row, one ending yesterday only those of the tenants
-- that have scanned today.
--
-- group_by (NULL, 'channel', 'utm_source' or 'utm_campaign') groups the cohort by the first
-- touch of each tenant's lead: 'unattributed' without a lead, '(not set)' for a lead
-- without that value. One row per group and a total row (is_total), also when the cohort
-- is empty.
WITH cohort AS (
    SELECT m.tenant_id,
           m.lead_id,
           -- With property_id, a tenant came from one of that property's leads only when
           -- its lead is of it: leadsCaptured counts that property's leads.
           m.lead_id IS NOT NULL
             AND (%(property_id)s::text IS NULL OR l.property_id = %(property_id)s::text) AS from_lead,
           -- A scan needs an API key: a tenant that scanned has reached that stage even
           -- when its apikey.created is late or lost, so no stage outnumbers the one before.
           m.first_api_key_at < %(end_at)s::timestamptz
             OR m.first_scan_at < %(end_at)s::timestamptz AS has_api_key,
           m.first_scan_at < %(end_at)s::timestamptz      AS has_first_scan,
           (extract(epoch FROM m.first_scan_at - m.tenant_created_at) / 3600)::float8 AS hours_to_first_scan,
           CASE
               -- no completed scan since the 30 days began (last_scan_at is on the latest
               -- day with one, and days are what count here)
               WHEN m.last_scan_at IS NULL
                 OR m.last_scan_at < (%(active_from)s::date)::timestamp AT TIME ZONE 'UTC' THEN false
               -- the latest completed scan is within the 30 days
               WHEN m.last_scan_at < %(end_at)s::timestamptz THEN true
               -- so is the first (the latest came after the window)
               WHEN m.first_scan_at >= (%(active_from)s::date)::timestamp AT TIME ZONE 'UTC'
                AND m.first_scan_at < %(end_at)s::timestamptz THEN true
               -- it scanned after the window too: look for a scan in the 30 days
               ELSE EXISTS (
                   SELECT 1
                     FROM service_usage_rollups u
                    WHERE u.tenant_id = m.tenant_id
                      AND u.day BETWEEN %(active_from)s::date AND %(to_day)s::date
                      AND u.scans_completed > 0)
           END AS is_active,
           CASE WHEN m.lead_id IS NULL THEN 'unattributed'
                ELSE coalesce(CASE %(group_by)s::text
                                   WHEN 'channel'      THEN l.first_touch_source
                                   WHEN 'utm_source'   THEN l.first_touch_utm_source
                                   WHEN 'utm_campaign' THEN l.first_touch_utm_campaign
                              END, '(not set)')
           END AS grp
      FROM tenant_milestones m
      LEFT JOIN leads l ON l.id = m.lead_id
     WHERE m.tenant_created_at >= %(start_at)s::timestamptz
       AND m.tenant_created_at < %(end_at)s::timestamptz
       AND (%(tenant_id)s::text IS NULL OR m.tenant_id = %(tenant_id)s::text)
)
SELECT GROUPING(grp) = 1                                  AS is_total,
       grp,
       count(*)                                           AS tenants_created,
       count(*) FILTER (WHERE from_lead)                  AS tenants_with_lead,
       count(*) FILTER (WHERE has_api_key)                AS tenants_with_api_key,
       count(*) FILTER (WHERE has_first_scan)             AS tenants_with_first_scan,
       count(*) FILTER (WHERE is_active)                  AS tenants_active,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY hours_to_first_scan)
           FILTER (WHERE has_first_scan)                  AS median_hours_to_first_scan,
       avg(hours_to_first_scan) FILTER (WHERE has_first_scan) AS mean_hours_to_first_scan
  FROM cohort
 GROUP BY GROUPING SETS ((), (grp))
