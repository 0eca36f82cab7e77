-- Delete a lead's consent history.
DELETE FROM consent_records
 WHERE lead_id = %(lead_id)s
