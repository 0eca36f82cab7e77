-- A session's latest page view of a path (what a measurement without a page-view id
-- refers to).
SELECT id
  FROM web_traffic_logs
 WHERE session_id = %(session_id)s
   AND path = %(path)s
 ORDER BY occurred_at DESC
 LIMIT 1
