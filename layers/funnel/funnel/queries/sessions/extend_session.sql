-- Continue a stored session with new events.
UPDATE sessions
   SET last_seen_at  = GREATEST(last_seen_at, %(last_seen_at)s),
       page_views    = page_views + %(added_page_views)s,
       exit_path     = COALESCE(%(exit_path)s, exit_path),
       is_conversion = is_conversion OR %(converted)s
 WHERE id = %(id)s
