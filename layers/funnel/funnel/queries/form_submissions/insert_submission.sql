-- Keep a form's other fields for the submission record; nothing (no row returned) when
-- the submission is stored already (a buffered capture written twice).
INSERT INTO form_submissions (id, property_id, lead_id, visitor_id, session_id, form_id, path, payload,
                              submitted_at)
VALUES (%(id)s, %(property_id)s, %(lead_id)s, %(visitor_id)s, %(session_id)s, %(form_id)s, %(path)s,
        %(payload)s, %(submitted_at)s)
ON CONFLICT (id) DO NOTHING
RETURNING id
