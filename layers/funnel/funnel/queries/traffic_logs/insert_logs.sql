-- Store a batch of page views' traffic-log rows in one statement, one array per column.
INSERT INTO web_traffic_logs (id, event_id, property_id, visitor_id, session_id, occurred_at, path,
                              referrer_host, traffic_source, utm_source, utm_medium, utm_campaign, utm_term,
                              utm_content, click_id_type, device_type, country, fcp_ms, lcp_ms, inp_ms,
                              cls_score, ttfb_ms, engaged_time_ms, scroll_depth_percent, is_entrance,
                              is_exit, is_conversion)
SELECT *
  FROM unnest(%(id)s::uuid[], %(event_id)s::uuid[], %(property_id)s::text[], %(visitor_id)s::uuid[],
              %(session_id)s::uuid[], %(occurred_at)s::timestamptz[], %(path)s::text[],
              %(referrer_host)s::text[], %(traffic_source)s::text[], %(utm_source)s::text[],
              %(utm_medium)s::text[], %(utm_campaign)s::text[], %(utm_term)s::text[], %(utm_content)s::text[],
              %(click_id_type)s::text[], %(device_type)s::text[], %(country)s::text[], %(fcp_ms)s::integer[],
              %(lcp_ms)s::integer[], %(inp_ms)s::integer[], %(cls_score)s::real[], %(ttfb_ms)s::integer[],
              %(engaged_time_ms)s::integer[], %(scroll_depth_percent)s::smallint[], %(is_entrance)s::boolean[],
              %(is_exit)s::boolean[], %(is_conversion)s::boolean[])
