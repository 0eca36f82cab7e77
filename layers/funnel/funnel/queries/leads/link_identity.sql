-- Remember that this visitor id belongs to the lead.
INSERT INTO lead_identities (lead_id, visitor_id)
VALUES (%(lead_id)s, %(visitor_id)s)
ON CONFLICT DO NOTHING
