-- The lead with this normalised email, locked until the deletion commits (a concurrent
-- capture or attribution of the same address waits for it).
SELECT id
  FROM leads
 WHERE email_normalized = %(email_normalized)s
   FOR UPDATE
