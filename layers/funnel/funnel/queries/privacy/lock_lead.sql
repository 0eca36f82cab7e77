-- The lead with this normalised email, and when it was first captured (the day whose new
-- leads it counts in), locked until the deletion commits (a concurrent capture or
-- attribution of the same address waits for it).
SELECT id, first_captured_at
  FROM leads
 WHERE email_normalized = %(email_normalized)s
   FOR UPDATE
