-- One UTC day's pages per property (every property, or only %(property_id)s): the ten top
-- landing paths with their entrances and conversions, and the TTFB p95 with its number
-- of samples (page views with a TTFB).
--
-- Landing paths rank by entrances, then by path in byte order (COLLATE "C"), so ties never
-- depend on the database's locale. The p95 is the discrete one (percentile_disc(0.95)):
-- the smallest TTFB with at least 95 percent of the samples at or below it, so a value
-- some page view had. It is read off the count of each distinct TTFB, which needs no
-- sort of the day's page views.
WITH logs AS NOT MATERIALIZED (
    SELECT property_id, path, ttfb_ms, is_entrance, is_conversion
      FROM web_traffic_logs
     WHERE occurred_at >= %(day_start)s
       AND occurred_at < %(day_end)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
), landing AS (
    SELECT property_id,
           jsonb_agg(jsonb_build_object('path', path, 'entrances', entrances, 'conversions', conversions)
                     ORDER BY position) AS top_landing_paths
      FROM (SELECT property_id, path,
                   count(*)                              AS entrances,
                   count(*) FILTER (WHERE is_conversion) AS conversions,
                   row_number() OVER (PARTITION BY property_id
                                      ORDER BY count(*) DESC, path COLLATE "C") AS position
              FROM logs
             WHERE is_entrance
             GROUP BY property_id, path) AS ranked
     WHERE position <= 10
     GROUP BY property_id
), ttfb AS (
    SELECT property_id, ttfb_ms,
           sum(count(*)) OVER (PARTITION BY property_id ORDER BY ttfb_ms) AS at_or_below,
           sum(count(*)) OVER (PARTITION BY property_id)                  AS samples
      FROM logs
     WHERE ttfb_ms IS NOT NULL
     GROUP BY property_id, ttfb_ms
), p95 AS (
    SELECT property_id,
           min(ttfb_ms) FILTER (WHERE at_or_below >= ceil(0.95 * samples)) AS p95_ttfb_ms,
           max(samples)::bigint                                            AS ttfb_samples
      FROM ttfb
     GROUP BY property_id
)
SELECT property_id,
       coalesce(l.top_landing_paths, '[]'::jsonb) AS top_landing_paths,
       p.p95_ttfb_ms,
       coalesce(p.ttfb_samples, 0)                AS ttfb_samples
  FROM landing AS l
  FULL JOIN p95 AS p USING (property_id)
