-- One UTC day's page views per property and traffic source (every property, or only
-- %(property_id)s): page views, entrances, exits and conversions (converted entrances),
-- and the ids (as text) of the source's visitors with, element for element, whether each
-- returned (was first seen before the day began). A visitor who came through two sources
-- is in both lists; the lists are in no particular order.
--
-- One pass over the day's page views gives the totals and the visitor lists (for the
-- day's sketches, unique and returning visitors), grouped by visitor first so the big
-- hash or sort is on a uuid.
WITH visits AS (
    SELECT property_id, traffic_source, visitor_id,
           count(*)                                              AS page_views,
           count(*) FILTER (WHERE is_entrance)                   AS entrances,
           count(*) FILTER (WHERE is_exit)                       AS exits,
           count(*) FILTER (WHERE is_entrance AND is_conversion) AS conversions
      FROM web_traffic_logs
     WHERE occurred_at >= %(day_start)s
       AND occurred_at < %(day_end)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
     GROUP BY visitor_id, property_id, traffic_source
)
SELECT s.property_id,
       s.traffic_source,
       sum(s.page_views)::bigint                     AS page_views,
       sum(s.entrances)::bigint                      AS entrances,
       sum(s.exits)::bigint                          AS exits,
       sum(s.conversions)::bigint                    AS conversions,
       array_agg(s.visitor_id::text)                 AS visitor_ids,
       array_agg(v.first_seen_at < %(day_start)s) AS returning
  FROM visits AS s
  LEFT JOIN visitors AS v ON v.id = s.visitor_id
 GROUP BY s.property_id, s.traffic_source
