-- One UTC day's page views per property (every property, or only %(property_id)s),
-- dimension and key: the page views, entrances and converted entrances, and the ids (as
-- text) of the key's visitors, each once, in no particular order. Dimensions:
--   landing_page  the path of the visit's entrance that day; its page views are those of
--                 that day's visits that entered there
--   page          the path viewed
--   device        the device type
--   country       the two-letter country, '(not set)' when unknown
--   source        the traffic source
-- Grouped by visitor first, so each key's list of visitors needs no DISTINCT.
WITH logs AS MATERIALIZED (
    SELECT property_id, session_id, visitor_id, path, device_type, country, traffic_source,
           is_entrance, is_conversion
      FROM web_traffic_logs
     WHERE occurred_at >= %(day_start)s
       AND occurred_at < %(day_end)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
), entered AS (
    SELECT DISTINCT ON (session_id) session_id, path AS landing_path
      FROM logs
     WHERE is_entrance
     ORDER BY session_id, path COLLATE "C"
), per_visitor AS (
    SELECT l.property_id, d.dimension, d.key, l.visitor_id,
           count(*)                                                AS page_views,
           count(*) FILTER (WHERE l.is_entrance)                   AS entrances,
           count(*) FILTER (WHERE l.is_entrance AND l.is_conversion) AS conversions
      FROM logs AS l
      LEFT JOIN entered AS e USING (session_id)
     CROSS JOIN LATERAL (VALUES ('landing_page', e.landing_path),
                                ('page', l.path),
                                ('device', l.device_type),
                                ('country', coalesce(l.country, '(not set)')),
                                ('source', l.traffic_source)) AS d (dimension, key)
     WHERE d.key IS NOT NULL
     GROUP BY l.property_id, d.dimension, d.key, l.visitor_id
)
SELECT property_id, dimension, key,
       sum(page_views)::bigint         AS page_views,
       sum(entrances)::bigint          AS entrances,
       sum(conversions)::bigint        AS conversions,
       array_agg(visitor_id::text)     AS visitor_ids
  FROM per_visitor
 GROUP BY property_id, dimension, key
