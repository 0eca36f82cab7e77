-- Change a lead's consent and record the change, in one statement. A record is written
-- only when the status changes, or a grant comes with another wording version; the
-- UPDATE's row lock makes concurrent identical requests record it once (B3).
WITH changed AS (
    UPDATE leads
       SET consent_status          = %(status)s,
           consent_wording_version = COALESCE(%(wording_version)s, consent_wording_version),
           consent_updated_at      = %(occurred_at)s,
           updated_at              = now()
     WHERE id = %(lead_id)s
       AND (consent_status <> %(status)s
            OR (%(status)s = 'granted' AND consent_wording_version IS DISTINCT FROM %(wording_version)s))
    RETURNING id
)
INSERT INTO consent_records (lead_id, status, source, wording_version, occurred_at)
SELECT id, %(status)s, %(source)s, %(wording_version)s, %(occurred_at)s
  FROM changed
RETURNING id
