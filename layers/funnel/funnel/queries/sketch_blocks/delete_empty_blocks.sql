-- Delete the blocks of level %(level)s starting on first_day of the properties (every
-- one, or only %(only_property)s) other than %(property_ids)s: those with no day left.
DELETE FROM visitor_sketch_blocks
 WHERE level = %(level)s::smallint
   AND first_day = %(first_day)s::date
   AND (%(only_property)s::text IS NULL OR property_id = %(only_property)s::text)
   AND property_id <> ALL (%(property_ids)s::text[])
