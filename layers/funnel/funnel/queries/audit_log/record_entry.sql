-- Append one audit entry.
INSERT INTO audit_log (actor, action, subject_type, subject_id, request_id, details)
VALUES (%(actor)s, %(action)s, %(subject_type)s, %(subject_id)s, %(request_id)s, %(details)s)
