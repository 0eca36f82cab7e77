-- Store a batch of events in one statement, given one array per column; returns the ids
-- stored (an event whose client id the property already has is skipped).
INSERT INTO events (id, property_id, visitor_id, session_id, event_type, event_name, client_event_id,
                    path, title, occurred_at, received_at, properties)
SELECT *
  FROM unnest(%(id)s::uuid[], %(property_id)s::text[], %(visitor_id)s::uuid[], %(session_id)s::uuid[],
              %(event_type)s::text[], %(event_name)s::text[], %(client_event_id)s::text[], %(path)s::text[],
              %(title)s::text[], %(occurred_at)s::timestamptz[], %(received_at)s::timestamptz[],
              %(properties)s::jsonb[])
ON CONFLICT ON CONSTRAINT events_property_client_event_key DO NOTHING
RETURNING id
