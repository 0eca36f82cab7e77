-- Write one visitor's sessionised batch in one statement (one round trip), and return how
-- many events were stored:
--   * the stored session the batch continues: extended with its new activity, and ended
--     (at its last activity) when the batch starts the next one; no row when
--     continued_id is null;
--   * that session's stored page views: the exit flag cleared when a newer page view
--     lands, the entrance converted when the session converted;
--   * the batch's new sessions;
--   * its events, skipping any whose client id the property already has (a concurrent
--     batch of another visitor with the same eventId wins the unique key);
--   * a traffic-log row for each page view whose event was stored, found by client id.
-- The UPDATEs see the rows as they were before this statement, as they would running
-- first on their own. Without a stored session they stop before reading a row, whatever
-- the plan (a generic plan made while a table was small may scan it).
-- Event and traffic-log ids are made here. Arrays are bound in binary (the placeholders
-- ending in b): psycopg's text format quotes every element in Python, which cost more
-- than the statement itself.
WITH continued AS (
    UPDATE sessions
       SET last_seen_at  = GREATEST(last_seen_at, %(continued_last_seen_at)s::timestamptz),
           page_views    = page_views + %(continued_added_page_views)s::integer,
           exit_path     = COALESCE(%(continued_exit_path)s::text, exit_path),
           is_conversion = is_conversion OR %(continued_converted)s::boolean,
           ended_at      = COALESCE(%(continued_ended_at)s::timestamptz, ended_at)
     WHERE %(continued_id)s::uuid IS NOT NULL
       AND id = %(continued_id)s::uuid
),
continued_logs AS (
    UPDATE web_traffic_logs
       SET is_exit       = is_exit AND NOT %(continued_new_exit)s::boolean,
           is_conversion = is_conversion OR (is_entrance AND %(continued_converted)s::boolean)
     WHERE %(continued_id)s::uuid IS NOT NULL
       AND session_id = %(continued_id)s::uuid
       AND ((is_exit AND %(continued_new_exit)s::boolean)
            OR (is_entrance AND NOT is_conversion AND %(continued_converted)s::boolean))
),
new_sessions AS (
    INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, ended_at, landing_path,
                          exit_path, traffic_source, referrer_host, utm_source, utm_medium, utm_campaign,
                          utm_term, utm_content, click_id_type, device_type, country, page_views,
                          is_conversion)
    SELECT s.id, %(property_id)s::text, %(visitor_id)s::uuid, s.started_at, s.last_seen_at, s.ended_at,
           s.landing_path, s.exit_path, s.traffic_source, s.referrer_host, s.utm_source, s.utm_medium,
           s.utm_campaign, s.utm_term, s.utm_content, s.click_id_type, %(device_type)s::text,
           %(country)s::text, s.page_views, s.is_conversion
      FROM unnest(%(session_id)b::uuid[], %(session_started_at)b::timestamptz[],
                  %(session_last_seen_at)b::timestamptz[], %(session_ended_at)b::timestamptz[],
                  %(session_landing_path)b::text[], %(session_exit_path)b::text[],
                  %(session_traffic_source)b::text[], %(session_referrer_host)b::text[],
                  %(session_utm_source)b::text[], %(session_utm_medium)b::text[],
                  %(session_utm_campaign)b::text[], %(session_utm_term)b::text[],
                  %(session_utm_content)b::text[], %(session_click_id_type)b::text[],
                  %(session_page_views)b::integer[], %(session_is_conversion)b::boolean[])
           AS s (id, started_at, last_seen_at, ended_at, landing_path, exit_path, traffic_source,
                 referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content, click_id_type,
                 page_views, is_conversion)
),
stored AS (
    INSERT INTO events (id, property_id, visitor_id, session_id, event_type, event_name, client_event_id,
                        path, title, occurred_at, received_at, properties)
    SELECT gen_random_uuid(), %(property_id)s::text, %(visitor_id)s::uuid, e.session_id, e.event_type,
           e.event_name, e.client_event_id, e.path, e.title, e.occurred_at, %(received_at)s::timestamptz,
           e.properties
      FROM unnest(%(event_session_id)b::uuid[], %(event_type)b::text[], %(event_name)b::text[],
                  %(event_client_id)b::text[], %(event_path)b::text[], %(event_title)b::text[],
                  %(event_occurred_at)b::timestamptz[], %(event_properties)b::jsonb[])
           AS e (session_id, event_type, event_name, client_event_id, path, title, occurred_at, properties)
    ON CONFLICT ON CONSTRAINT events_property_client_event_key DO NOTHING
    RETURNING id, client_event_id
),
logs AS (
    INSERT INTO web_traffic_logs (id, event_id, property_id, visitor_id, session_id, occurred_at, path,
                                  referrer_host, traffic_source, utm_source, utm_medium, utm_campaign,
                                  utm_term, utm_content, click_id_type, device_type, country, fcp_ms, lcp_ms,
                                  inp_ms, cls_score, ttfb_ms, engaged_time_ms, scroll_depth_percent,
                                  is_entrance, is_exit, is_conversion)
    SELECT gen_random_uuid(), stored.id, %(property_id)s::text, %(visitor_id)s::uuid, l.session_id,
           l.occurred_at, l.path, l.referrer_host, l.traffic_source, l.utm_source, l.utm_medium,
           l.utm_campaign, l.utm_term, l.utm_content, l.click_id_type, %(device_type)s::text,
           %(country)s::text, l.fcp_ms, l.lcp_ms, l.inp_ms, l.cls_score, l.ttfb_ms, l.engaged_time_ms,
           l.scroll_depth_percent, l.is_entrance, l.is_exit, l.is_conversion
      FROM unnest(%(log_client_id)b::text[], %(log_session_id)b::uuid[], %(log_occurred_at)b::timestamptz[],
                  %(log_path)b::text[], %(log_referrer_host)b::text[], %(log_traffic_source)b::text[],
                  %(log_utm_source)b::text[], %(log_utm_medium)b::text[], %(log_utm_campaign)b::text[],
                  %(log_utm_term)b::text[], %(log_utm_content)b::text[], %(log_click_id_type)b::text[],
                  %(log_fcp_ms)b::integer[], %(log_lcp_ms)b::integer[], %(log_inp_ms)b::integer[],
                  %(log_cls_score)b::real[], %(log_ttfb_ms)b::integer[], %(log_engaged_time_ms)b::integer[],
                  %(log_scroll_depth_percent)b::smallint[], %(log_is_entrance)b::boolean[],
                  %(log_is_exit)b::boolean[], %(log_is_conversion)b::boolean[])
           AS l (client_event_id, session_id, occurred_at, path, referrer_host, traffic_source, utm_source,
                 utm_medium, utm_campaign, utm_term, utm_content, click_id_type, fcp_ms, lcp_ms, inp_ms,
                 cls_score, ttfb_ms, engaged_time_ms, scroll_depth_percent, is_entrance, is_exit,
                 is_conversion)
      JOIN stored ON stored.client_event_id = l.client_event_id
)
SELECT count(*) FROM stored
