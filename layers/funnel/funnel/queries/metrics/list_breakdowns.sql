-- The breakdowns of the days from_day..to_day (inclusive) of one property, or of every
-- property when property_id is NULL: per dimension and key, the summed counts and the
-- daily rows whose visitor sketches a window's visitors are merged from (by id and
-- generated_at, in day and property order). '(other)' rows are each day's keys past the
-- per-day bound. Read from the rollups only.
SELECT dimension,
       key,
       sum(page_views)::bigint                             AS page_views,
       sum(entrances)::bigint                              AS entrances,
       sum(conversions)::bigint                            AS conversions,
       array_agg(id ORDER BY day, property_id)             AS ids,
       array_agg(generated_at ORDER BY day, property_id)   AS versions
  FROM daily_breakdown_rollups
 WHERE day BETWEEN %(from_day)s::date AND %(to_day)s::date
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
 GROUP BY dimension, key
