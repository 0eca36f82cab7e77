-- Store the rebuilt block of level %(level)s starting on first_day of one property,
-- replacing what was stored for it (every column from the new values). generated_at, the
-- version readers key their decoded sketches by, is the clock at the write: a run that
-- rolls up two days of one block rebuilds it twice, and each build is a new version.
INSERT INTO visitor_sketch_blocks
       (level, first_day, property_id, last_day, visitors_sketch, source_visitor_sketches,
        day_rows, day_versions, generated_at)
VALUES (%(level)s::smallint, %(first_day)s::date, %(property_id)s,
        %(first_day)s::date + ((1 << %(level)s::integer) - 1),
        %(visitors_sketch)s, %(source_visitor_sketches)s, %(day_rows)s::uuid[],
        %(day_versions)s::timestamptz[], clock_timestamp())
ON CONFLICT ON CONSTRAINT visitor_sketch_blocks_key DO UPDATE
   SET visitors_sketch         = EXCLUDED.visitors_sketch,
       source_visitor_sketches = EXCLUDED.source_visitor_sketches,
       day_rows                = EXCLUDED.day_rows,
       day_versions            = EXCLUDED.day_versions,
       generated_at            = EXCLUDED.generated_at
