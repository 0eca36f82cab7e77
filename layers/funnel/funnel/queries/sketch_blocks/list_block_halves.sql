-- The two halves of the blocks of level %(level)s starting on first_day: the blocks of
-- the level below starting on first_day and half_day, of every property or only
-- %(property_id)s, by property and first day, with their sketches and members.
SELECT property_id,
       first_day,
       visitors_sketch,
       source_visitor_sketches,
       day_rows,
       day_versions
  FROM visitor_sketch_blocks
 WHERE level = %(level)s::smallint - 1
   AND first_day IN (%(first_day)s::date, %(half_day)s::date)
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
 ORDER BY property_id, first_day
