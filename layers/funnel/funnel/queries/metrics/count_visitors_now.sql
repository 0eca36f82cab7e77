-- Visitors now: the distinct visitors of one property (every property when property_id is
-- NULL) with an event dated after since_at and at most until_at (the request's instant
-- plus how far ahead a client's clock is believed). A visitor id belongs to one property,
-- so over every property the count is the sum of theirs. A range of
-- events_property_occurred_visitor_idx (0015) for one property; the BRIN index on
-- occurred_at for all of them.
SELECT count(DISTINCT visitor_id) AS visitors
  FROM events
 WHERE occurred_at > %(since_at)s
   AND occurred_at <= %(until_at)s
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
