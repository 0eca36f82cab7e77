-- One lead per normalised email. A new lead gets its visitor and first-touch attribution;
-- a returning one only its last capture time (first touch is kept as first recorded).
INSERT INTO leads AS l (email_normalized, property_id, visitor_id, visitor_first_seen_at, first_touch_source,
                        first_touch_referrer_host, first_touch_utm_source, first_touch_utm_medium,
                        first_touch_utm_campaign, first_captured_at, last_captured_at)
VALUES (%(email_normalized)s, %(property_id)s, %(visitor_id)s, %(visitor_first_seen_at)s, %(traffic_source)s,
        %(referrer_host)s, %(utm_source)s, %(utm_medium)s, %(utm_campaign)s, %(captured_at)s, %(captured_at)s)
ON CONFLICT ON CONSTRAINT leads_email_normalized_key DO UPDATE
   SET last_captured_at          = GREATEST(l.last_captured_at, EXCLUDED.last_captured_at),
       -- Each set is taken whole, from the first capture that had one: filled column by
       -- column, a first touch could mix a direct first visit with a later campaign's UTM.
       visitor_id                = CASE WHEN l.visitor_id IS NULL THEN EXCLUDED.visitor_id ELSE l.visitor_id END,
       visitor_first_seen_at     = CASE WHEN l.visitor_id IS NULL THEN EXCLUDED.visitor_first_seen_at
                                        ELSE l.visitor_first_seen_at END,
       first_touch_source        = CASE WHEN l.first_touch_source IS NULL THEN EXCLUDED.first_touch_source
                                        ELSE l.first_touch_source END,
       first_touch_referrer_host = CASE WHEN l.first_touch_source IS NULL THEN EXCLUDED.first_touch_referrer_host
                                        ELSE l.first_touch_referrer_host END,
       first_touch_utm_source    = CASE WHEN l.first_touch_source IS NULL THEN EXCLUDED.first_touch_utm_source
                                        ELSE l.first_touch_utm_source END,
       first_touch_utm_medium    = CASE WHEN l.first_touch_source IS NULL THEN EXCLUDED.first_touch_utm_medium
                                        ELSE l.first_touch_utm_medium END,
       first_touch_utm_campaign  = CASE WHEN l.first_touch_source IS NULL THEN EXCLUDED.first_touch_utm_campaign
                                        ELSE l.first_touch_utm_campaign END,
       updated_at                = now()
RETURNING id
