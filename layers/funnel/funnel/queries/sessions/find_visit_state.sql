-- What a visitor's batch is sessionised against, read once the visitor's row is locked
-- (so a concurrent batch of the same visitor is either wholly seen or not begun): which of
-- the batch's client event ids the property already has (the dedup), and the visitor's
-- latest session, the one the batch may continue, with its attribution (which its page
-- views carry) (null columns when there is none).
--
-- The dedup must stay one probe of the unique key (client id, property) per id, whatever
-- the statistics of a fast-growing events table say and in the generic plan of a prepared
-- statement. So each id's lookup is an ARRAY subquery (never turned into a join, so never a
-- hash join over a scan of the table) that names only the client id: an index led by the
-- client id is then the only one that fits, and the property is compared outside it (with
-- stale statistics, a property condition inside picked the property's index and read every
-- event of the property for each id).
SELECT ARRAY(SELECT wanted.client_event_id
               FROM unnest(%(client_ids)b::text[]) AS wanted (client_event_id)
              WHERE %(property_id)s::text = ANY (ARRAY(SELECT e.property_id::text
                                                        FROM events e
                                                       WHERE e.client_event_id = wanted.client_event_id)))
           AS known_client_ids,
       latest.id AS session_id, latest.started_at, latest.last_seen_at, latest.page_views,
       latest.traffic_source, latest.referrer_host, latest.utm_source, latest.utm_medium,
       latest.utm_campaign, latest.utm_term, latest.utm_content, latest.click_id_type
  FROM (VALUES (true)) AS visitor (locked)
  LEFT JOIN LATERAL (
        SELECT s.id, s.started_at, s.last_seen_at, s.page_views, s.traffic_source, s.referrer_host,
               s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content, s.click_id_type
          FROM sessions s
         WHERE s.visitor_id = %(visitor_id)s::uuid
         ORDER BY s.last_seen_at DESC
         LIMIT 1
       ) AS latest ON true
