-- The lead with this normalised email, for tenant attribution.
SELECT id
  FROM leads
 WHERE email_normalized = %(email_normalized)s
