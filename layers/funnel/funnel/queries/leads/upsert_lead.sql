-- One lead per normalised email. A new lead gets its visitor and first-touch attribution;
-- a returning one only its last capture time (first touch is kept as first recorded).
INSERT INTO leads AS l (email_normalized, property_id, visitor_id, visitor_first_seen_at, first_touch_source,
                        first_touch_referrer_host, first_touch_utm_source, first_touch_utm_medium,
                        first_touch_utm_campaign, first_captured_at, last_captured_at)
VALUES (%(email_normalized)s, %(property_id)s, %(visitor_id)s, %(visitor_first_seen_at)s, %(traffic_source)s,
        %(referrer_host)s, %(utm_source)s, %(utm_medium)s, %(utm_campaign)s, %(captured_at)s, %(captured_at)s)
ON CONFLICT ON CONSTRAINT leads_email_normalized_key DO UPDATE
   SET last_captured_at          = GREATEST(l.last_captured_at, EXCLUDED.last_captured_at),
       visitor_id                = COALESCE(l.visitor_id, EXCLUDED.visitor_id),
       visitor_first_seen_at     = COALESCE(l.visitor_first_seen_at, EXCLUDED.visitor_first_seen_at),
       first_touch_source        = COALESCE(l.first_touch_source, EXCLUDED.first_touch_source),
       first_touch_referrer_host = COALESCE(l.first_touch_referrer_host, EXCLUDED.first_touch_referrer_host),
       first_touch_utm_source    = COALESCE(l.first_touch_utm_source, EXCLUDED.first_touch_utm_source),
       first_touch_utm_medium    = COALESCE(l.first_touch_utm_medium, EXCLUDED.first_touch_utm_medium),
       first_touch_utm_campaign  = COALESCE(l.first_touch_utm_campaign, EXCLUDED.first_touch_utm_campaign),
       updated_at                = now()
RETURNING id
