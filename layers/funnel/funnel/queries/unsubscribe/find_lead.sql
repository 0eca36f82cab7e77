-- The id of the lead with this normalised email, to sign its unsubscribe link.
SELECT id
  FROM leads
 WHERE email_normalized = %(email_normalized)s
