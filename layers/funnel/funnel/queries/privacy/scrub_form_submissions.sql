-- Scrub a lead's form submissions: the other fields they carried and the link to the
-- lead go; the pseudonymous submission (form, page, time) stays until raw retention.
UPDATE form_submissions
   SET payload = NULL,
       lead_id = NULL
 WHERE lead_id = %(lead_id)s
