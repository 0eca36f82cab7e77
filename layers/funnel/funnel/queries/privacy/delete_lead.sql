-- Delete the lead itself, the last row that holds its email.
DELETE FROM leads
 WHERE id = %(lead_id)s
