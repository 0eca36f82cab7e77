-- The property days of from_day..to_day (inclusive) that have breakdowns, of one property
-- or of every property when property_id is NULL, each with the version of its rows: a
-- recompute replaces a day's rows whole, new ids under one generated_at, so the newest
-- stamp, the row count and the greatest id name what a reader decoded (a clock that stood
-- still, as in tests, still gives new ids). In day and property order.
SELECT property_id,
       day,
       max(generated_at) AS version,
       count(*)          AS keys,
       max(id::text)     AS newest_id
  FROM daily_breakdown_rollups
 WHERE day BETWEEN %(from_day)s::date AND %(to_day)s::date
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
 GROUP BY property_id, day
 ORDER BY day, property_id
