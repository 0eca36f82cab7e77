-- A visitor's most recent session: the one a new event may continue.
SELECT id, started_at, last_seen_at, page_views
  FROM sessions
 WHERE visitor_id = %(visitor_id)s
 ORDER BY last_seen_at DESC
 LIMIT 1
