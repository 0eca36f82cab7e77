-- Leads first captured in [start_at, end_at), of one property or of every property when
-- property_id is NULL; grouped by first touch as summarize_tenant_cohort groups tenants
-- (group_by NULL, 'channel', 'utm_source' or 'utm_campaign'; '(not set)' without a value).
-- One row per group and a total row (is_total), also when there are none.
WITH captured AS (
    SELECT coalesce(CASE %(group_by)s::text
                        WHEN 'channel'      THEN first_touch_source
                        WHEN 'utm_source'   THEN first_touch_utm_source
                        WHEN 'utm_campaign' THEN first_touch_utm_campaign
                    END, '(not set)') AS grp
      FROM leads
     WHERE first_captured_at >= %(start_at)s::timestamptz
       AND first_captured_at < %(end_at)s::timestamptz
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
)
SELECT GROUPING(grp) = 1 AS is_total,
       grp,
       count(*)          AS leads
  FROM captured
 GROUP BY GROUPING SETS ((), (grp))
