-- Add to one ingest counter (property, UTC day, kind, outcome, error code). Counters only
-- grow, so concurrent increments add up under the row lock.
INSERT INTO ingest_counters AS c (property_id, day, kind, outcome, code, count)
VALUES (%(property_id)s, %(day)s, %(kind)s, %(outcome)s, %(code)s, %(count)s)
ON CONFLICT (property_id, day, kind, outcome, code) DO UPDATE
   SET count = c.count + EXCLUDED.count,
       updated_at = now()
