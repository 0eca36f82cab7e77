-- Start a session with the attribution of its first event.
INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, ended_at, landing_path,
                      exit_path, traffic_source, referrer_host, utm_source, utm_medium, utm_campaign,
                      utm_term, utm_content, click_id_type, device_type, country, page_views, is_conversion)
VALUES (%(id)s, %(property_id)s, %(visitor_id)s, %(started_at)s, %(last_seen_at)s, %(ended_at)s,
        %(landing_path)s, %(exit_path)s, %(traffic_source)s, %(referrer_host)s, %(utm_source)s,
        %(utm_medium)s, %(utm_campaign)s, %(utm_term)s, %(utm_content)s, %(click_id_type)s,
        %(device_type)s, %(country)s, %(page_views)s, %(is_conversion)s)
