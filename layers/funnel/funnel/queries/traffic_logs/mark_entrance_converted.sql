-- A session converted (a form submit or a lead capture): its landing page converted.
UPDATE web_traffic_logs
   SET is_conversion = true
 WHERE session_id = ANY(%(session_ids)s)
   AND is_entrance
   AND NOT is_conversion
