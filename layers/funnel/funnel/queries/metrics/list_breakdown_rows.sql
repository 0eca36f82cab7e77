-- Every breakdown row of the given property days (two arrays, element for element), with
-- its visitor sketch (list_breakdown_days.sql names the days).
SELECT b.property_id, b.day, b.dimension, b.key, b.page_views, b.entrances, b.conversions,
       b.visitors_sketch AS sketch, b.generated_at
  FROM unnest(%(property_ids)s::text[], %(days)s::date[]) AS wanted (property_id, day)
  JOIN daily_breakdown_rollups AS b
    ON b.property_id = wanted.property_id
   AND b.day = wanted.day
