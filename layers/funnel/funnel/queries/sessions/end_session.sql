-- End a session when the next one starts (G3): it ended at its last activity.
UPDATE sessions
   SET ended_at = %(ended_at)s
 WHERE id = %(id)s
