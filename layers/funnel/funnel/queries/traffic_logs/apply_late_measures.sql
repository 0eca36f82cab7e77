-- Fold a batch's web vitals and engagement into page views stored by earlier requests, in
-- one statement. A measure names its page view by client event id, or else means its
-- session's latest page view of its path; a measure whose page view cannot be found is
-- dropped. Measures are in the order they happened: a vital's latest report wins,
-- engagement only grows, and a value not reported leaves the stored one. Returns the UTC
-- day of each page view changed (an old one's day is marked dirty).
WITH measure AS (
    SELECT *
      FROM unnest(%(page_view_client_id)b::text[], %(session_id)b::uuid[], %(path)b::text[],
                  %(fcp_ms)b::integer[], %(lcp_ms)b::integer[], %(inp_ms)b::integer[], %(cls_score)b::real[],
                  %(ttfb_ms)b::integer[], %(engaged_time_ms)b::integer[], %(scroll_depth_percent)b::smallint[])
           WITH ORDINALITY
           AS m (page_view_client_id, session_id, path, fcp_ms, lcp_ms, inp_ms, cls_score, ttfb_ms,
                 engaged_time_ms, scroll_depth_percent, position)
),
targeted AS (
    SELECT target.id, m.*
      FROM measure m
     CROSS JOIN LATERAL (
            -- By client id alone, then the property: with a property condition inside, stale
            -- statistics can pick the property's index and read all its events per measure
            -- (OFFSET 0 keeps the condition out).
            (SELECT found.id
               FROM (SELECT t.id, e.property_id
                       FROM events e
                       JOIN web_traffic_logs t ON t.event_id = e.id
                      WHERE e.client_event_id = m.page_view_client_id
                     OFFSET 0) AS found
              WHERE m.page_view_client_id IS NOT NULL
                AND found.property_id = %(property_id)s::text)
            UNION ALL
            (SELECT t.id
               FROM web_traffic_logs t
              WHERE m.page_view_client_id IS NULL
                AND t.session_id = m.session_id
                AND t.path = m.path
              ORDER BY t.occurred_at DESC
              LIMIT 1)
           ) AS target
),
merged AS (
    SELECT id,
           (array_agg(fcp_ms ORDER BY position DESC) FILTER (WHERE fcp_ms IS NOT NULL))[1] AS fcp_ms,
           (array_agg(lcp_ms ORDER BY position DESC) FILTER (WHERE lcp_ms IS NOT NULL))[1] AS lcp_ms,
           (array_agg(inp_ms ORDER BY position DESC) FILTER (WHERE inp_ms IS NOT NULL))[1] AS inp_ms,
           (array_agg(cls_score ORDER BY position DESC) FILTER (WHERE cls_score IS NOT NULL))[1] AS cls_score,
           (array_agg(ttfb_ms ORDER BY position DESC) FILTER (WHERE ttfb_ms IS NOT NULL))[1] AS ttfb_ms,
           max(engaged_time_ms) AS engaged_time_ms,
           max(scroll_depth_percent) AS scroll_depth_percent
      FROM targeted
     GROUP BY id
)
UPDATE web_traffic_logs t
   SET fcp_ms               = COALESCE(m.fcp_ms, t.fcp_ms),
       lcp_ms               = COALESCE(m.lcp_ms, t.lcp_ms),
       inp_ms               = COALESCE(m.inp_ms, t.inp_ms),
       cls_score            = COALESCE(m.cls_score, t.cls_score),
       ttfb_ms              = COALESCE(m.ttfb_ms, t.ttfb_ms),
       engaged_time_ms      = GREATEST(t.engaged_time_ms, m.engaged_time_ms),
       scroll_depth_percent = GREATEST(t.scroll_depth_percent, m.scroll_depth_percent)
  FROM merged m
 WHERE t.id = m.id
RETURNING (t.occurred_at AT TIME ZONE 'UTC')::date AS day
