-- A session in which a lead was captured converted.
UPDATE sessions
   SET is_conversion = true
 WHERE id = %(id)s
   AND NOT is_conversion
