-- Which of these client event ids are already stored, with their property (G5 dedup).
-- Each id is one probe of the unique key, which leads with the client id: a LATERAL
-- lookup per id keeps the planner from scanning the table when its statistics are stale
-- (a fresh or fast-growing events table).
SELECT found.client_event_id, found.property_id
  FROM unnest(%(client_ids)s::text[]) AS wanted (client_event_id)
 CROSS JOIN LATERAL (
        SELECT e.client_event_id, e.property_id
          FROM events e
         WHERE e.client_event_id = wanted.client_event_id
       ) AS found
