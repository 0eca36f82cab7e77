-- The stored event an incoming duplicate matches.
SELECT id
  FROM tenant_events
 WHERE tenant_id   = %(tenant_id)s
   AND event_type  = %(event_type)s
   AND occurred_at = %(occurred_at)s
   AND subject_id  = %(subject_id)s
