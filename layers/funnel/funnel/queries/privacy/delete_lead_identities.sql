-- Delete the links between a lead and the visitor ids it was seen with (the visitors
-- themselves are pseudonymous and expire with the raw data).
DELETE FROM lead_identities
 WHERE lead_id = %(lead_id)s
