-- A visitor's first session: its first touch, for lead attribution.
SELECT traffic_source, referrer_host, utm_source, utm_medium, utm_campaign
  FROM sessions
 WHERE visitor_id = %(visitor_id)s
 ORDER BY started_at
 LIMIT 1
