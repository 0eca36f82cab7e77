-- One row per day from_day..to_day, in order, zeros for days nothing was rolled up: the
-- day's unique visitors (summed over properties), page views and new leads, of one
-- property or of every property when property_id is NULL.
SELECT series.day::date                      AS day,
       coalesce(sum(r.unique_visitors), 0)   AS unique_visitors,
       coalesce(sum(r.total_page_views), 0)  AS page_views,
       coalesce(sum(r.new_leads), 0)         AS new_leads
  FROM generate_series(%(from_day)s::date, %(to_day)s::date, interval '1 day') AS series (day)
  LEFT JOIN daily_metric_rollups r
         ON r.day = series.day::date
        AND (%(property_id)s::text IS NULL OR r.property_id = %(property_id)s::text)
 GROUP BY series.day
 ORDER BY series.day
