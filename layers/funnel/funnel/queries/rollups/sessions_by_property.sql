-- Sessions started in one UTC day, per property (every property, or only %(property_id)s).
SELECT property_id, count(*) AS sessions
  FROM sessions
 WHERE started_at >= %(day_start)s
   AND started_at < %(day_end)s
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
 GROUP BY property_id
