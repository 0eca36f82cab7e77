-- The discrepancy monitor: raw counts against rolled-up totals over the UTC days from
-- %(first_day)s to %(last_day)s (start_at to end_at) that a run has rolled up. Per
-- property and day (with %(check_marketing)s; every property, or only %(property_id)s):
-- page views, entrances, form submits and new leads; per tenant and day (with
-- %(check_service_usage)s): completed scans. A missing side counts 0.
--
-- A day is rolled up for a property when a succeeded run wrote the marketing tables for
-- it (for every property or for that one), for a tenant when one wrote service usage;
-- %(run_days)s are the days this run (scope %(run_scope)s) has just written. Days no run
-- has covered are left alone: they are a freshness matter, not a discrepancy. So are days
-- marked dirty: a late write changed them, and a run will recompute them.
WITH covered AS MATERIALIZED (
    SELECT d::date AS day, property_id, scope
      FROM rollup_runs
     CROSS JOIN generate_series(greatest(from_day, %(first_day)s::date),
                                least(to_day, %(last_day)s::date), interval '1 day') AS d
     WHERE status = 'succeeded'
       AND NOT dry_run
       AND to_day >= %(first_day)s
       AND from_day <= %(last_day)s
     UNION
    SELECT d, %(property_id)s::text, %(run_scope)s::text
      FROM unnest(%(run_days)s::date[]) AS d
), raw_traffic AS (
    SELECT property_id, (occurred_at AT TIME ZONE 'UTC')::date AS day,
           count(*)                            AS page_views,
           count(*) FILTER (WHERE is_entrance) AS entrances
      FROM web_traffic_logs
     WHERE %(check_marketing)s
       AND occurred_at >= %(start_at)s
       AND occurred_at < %(end_at)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
     GROUP BY 1, 2
), counts (kind, key, day, metric, raw, rolled_up) AS (
    SELECT 'property', property_id, day, m.metric, m.n, 0
      FROM raw_traffic
     CROSS JOIN LATERAL (VALUES ('total_page_views', page_views), ('total_entrances', entrances)) AS m (metric, n)
    UNION ALL
    SELECT 'property', property_id, (occurred_at AT TIME ZONE 'UTC')::date, 'form_submits', count(*), 0
      FROM events
     WHERE %(check_marketing)s
       AND event_type = 'form_submit'
       AND occurred_at >= %(start_at)s
       AND occurred_at < %(end_at)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
     GROUP BY 2, 3
    UNION ALL
    SELECT 'property', property_id, (first_captured_at AT TIME ZONE 'UTC')::date, 'new_leads', count(*), 0
      FROM leads
     WHERE %(check_marketing)s
       AND first_captured_at >= %(start_at)s
       AND first_captured_at < %(end_at)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
     GROUP BY 2, 3
    UNION ALL
    SELECT 'tenant', tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, 'scans_completed', count(*), 0
      FROM tenant_events
     WHERE %(check_service_usage)s
       AND event_type = 'scan.completed'
       AND occurred_at >= %(start_at)s
       AND occurred_at < %(end_at)s
     GROUP BY 2, 3
    UNION ALL
    SELECT 'property', property_id, day, m.metric, 0, m.n
      FROM daily_metric_rollups
     CROSS JOIN LATERAL (VALUES ('total_page_views', total_page_views), ('total_entrances', total_entrances),
                                ('form_submits', form_submits), ('new_leads', new_leads)) AS m (metric, n)
     WHERE %(check_marketing)s
       AND day BETWEEN %(first_day)s AND %(last_day)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
    UNION ALL
    SELECT 'tenant', tenant_id, day, 'scans_completed', 0, scans_completed
      FROM service_usage_rollups
     WHERE %(check_service_usage)s
       AND day BETWEEN %(first_day)s AND %(last_day)s
), compared AS (
    SELECT kind, key, day, metric, sum(raw)::bigint AS raw, sum(rolled_up)::bigint AS rolled_up
      FROM counts
     GROUP BY kind, key, day, metric
)
SELECT c.day, c.kind, c.key, c.metric, c.raw, c.rolled_up
  FROM compared AS c
 WHERE c.raw <> c.rolled_up
   AND NOT EXISTS (SELECT 1 FROM rollup_dirty_days AS d WHERE d.day = c.day)
   AND EXISTS (SELECT 1
                 FROM covered AS v
                WHERE v.day = c.day
                  AND CASE c.kind
                          WHEN 'property' THEN v.scope IN ('all', 'marketing')
                                               AND (v.property_id IS NULL OR v.property_id = c.key)
                          ELSE v.scope IN ('all', 'service_usage')
                      END)
 ORDER BY c.day, c.kind, c.key, c.metric
