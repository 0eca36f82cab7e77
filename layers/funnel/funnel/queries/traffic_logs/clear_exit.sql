-- A session's exit page is its last page view: clear the flag before a newer one lands.
UPDATE web_traffic_logs
   SET is_exit = false
 WHERE session_id = %(session_id)s
   AND is_exit
