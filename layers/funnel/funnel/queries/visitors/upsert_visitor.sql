-- Record a visitor seen between first_seen and last_seen, locking its row until commit:
-- a visitor's events are sessionised one request at a time.
INSERT INTO visitors AS v (property_id, visitor_key, first_seen_at, last_seen_at)
VALUES (%(property_id)s, %(visitor_key)s, %(first_seen)s, %(last_seen)s)
ON CONFLICT ON CONSTRAINT visitors_property_key DO UPDATE
   SET first_seen_at = LEAST(v.first_seen_at, EXCLUDED.first_seen_at),
       last_seen_at  = GREATEST(v.last_seen_at, EXCLUDED.last_seen_at)
RETURNING id, first_seen_at
