-- One UTC day's page views per property (every property, or only %(property_id)s),
-- dimension and key: the page views, entrances and converted entrances, and the ids (as
-- text) of the key's visitors, each once, in no particular order. Dimensions:
--   landing_page  the path of the visit's entrance that day; its page views are those of
--                 that day's visits that entered there
--   page          the path viewed
--   device        the device type
--   country       the two-letter country, '(not set)' when unknown
--   source        the traffic source
-- Device, country, source and landing page are a visit's, so the day's page views are
-- first folded into its visits (one row per session) and those four read from them; only
-- pages group the page views themselves. Each key's visitors are grouped by visitor first,
-- so its list needs no DISTINCT.
WITH logs AS MATERIALIZED (
    SELECT property_id, session_id, visitor_id, path, device_type, country, traffic_source,
           is_entrance, is_conversion
      FROM web_traffic_logs
     WHERE occurred_at >= %(day_start)s
       AND occurred_at < %(day_end)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
), visits AS (
    SELECT property_id, visitor_id, device_type, coalesce(country, '(not set)') AS country, traffic_source,
           min(path COLLATE "C") FILTER (WHERE is_entrance)         AS landing_path,
           count(*)                                                 AS page_views,
           count(*) FILTER (WHERE is_entrance)                      AS entrances,
           count(*) FILTER (WHERE is_entrance AND is_conversion)    AS conversions
      FROM logs
     GROUP BY session_id, property_id, visitor_id, device_type, country, traffic_source
), per_visitor AS (
    SELECT property_id, 'page' AS dimension, path AS key, visitor_id,
           count(*)                                              AS page_views,
           count(*) FILTER (WHERE is_entrance)                   AS entrances,
           count(*) FILTER (WHERE is_entrance AND is_conversion) AS conversions
      FROM logs
     GROUP BY property_id, path, visitor_id
     UNION ALL
    SELECT v.property_id, d.dimension, d.key, v.visitor_id,
           sum(v.page_views), sum(v.entrances), sum(v.conversions)
      FROM visits AS v
     CROSS JOIN LATERAL (VALUES ('landing_page', v.landing_path),
                                ('device', v.device_type),
                                ('country', v.country),
                                ('source', v.traffic_source)) AS d (dimension, key)
     WHERE d.key IS NOT NULL
     GROUP BY v.property_id, d.dimension, d.key, v.visitor_id
)
SELECT property_id, dimension, key,
       sum(page_views)::bigint     AS page_views,
       sum(entrances)::bigint      AS entrances,
       sum(conversions)::bigint    AS conversions,
       array_agg(visitor_id::text) AS visitor_ids
  FROM per_visitor
 GROUP BY property_id, dimension, key
