-- Change a lead's consent and record the change with its evidence, in one statement;
-- returns the status it found and whether a record was written. A record is written only
-- when the status changes, or a grant comes with another wording version; a grant after a
-- withdrawal only when the person asked again (reconsent). The row lock taken first makes
-- concurrent identical requests record it once, each seeing the status the one
-- before it left.
WITH found AS (
    SELECT id, consent_status
      FROM leads
     WHERE id = %(lead_id)s
       FOR UPDATE
),
changed AS (
    UPDATE leads
       SET consent_status          = %(status)s,
           consent_wording_version = COALESCE(%(wording_version)s, leads.consent_wording_version),
           consent_updated_at      = %(occurred_at)s,
           updated_at              = now()
      FROM found
     WHERE leads.id = found.id
       AND (found.consent_status <> %(status)s
            OR (%(status)s = 'granted'
                AND leads.consent_wording_version IS DISTINCT FROM %(wording_version)s))
       AND NOT (%(status)s = 'granted' AND found.consent_status = 'withdrawn' AND NOT %(reconsent)s)
    RETURNING leads.id, found.consent_status AS previous_status
),
recorded AS (
    INSERT INTO consent_records (lead_id, status, source, wording_version, occurred_at, origin, page,
                                 request_id, previous_status, reconsent)
    SELECT id, %(status)s, %(source)s, %(wording_version)s, %(occurred_at)s, %(origin)s, %(page)s,
           %(request_id)s, previous_status, %(reconsent)s
      FROM changed
    RETURNING id
)
SELECT found.consent_status AS previous_status,
       EXISTS (SELECT FROM recorded) AS recorded
  FROM found
