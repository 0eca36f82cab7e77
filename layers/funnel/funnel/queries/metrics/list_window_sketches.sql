-- The sketches that make up a window's visitors, of one property or of every property
-- when property_id is NULL (funnel.sketch_blocks): the stored blocks among the window's
-- aligned pieces (levels, first_days) that name exactly the daily rows their days have
-- now, and the window's daily rows that no such block covers. Only rows and blocks with a
-- visitors sketch (one with none has no visitor of any source either). Each with its
-- generated_at, the version of its sketches: the caller fetches only those it has not
-- decoded yet.
WITH blocks AS (
    SELECT b.id, b.generated_at, b.property_id, b.first_day, b.last_day,
           b.visitors_sketch IS NOT NULL AS has_sketch
      FROM unnest(%(levels)s::smallint[], %(first_days)s::date[]) AS piece (level, first_day)
      JOIN visitor_sketch_blocks b ON b.level = piece.level AND b.first_day = piece.first_day
     WHERE (%(property_id)s::text IS NULL OR b.property_id = %(property_id)s::text)
       AND (b.day_rows, b.day_versions) = (
               SELECT array_agg(d.id ORDER BY d.day), array_agg(d.generated_at ORDER BY d.day)
                 FROM daily_metric_rollups d
                WHERE d.property_id = b.property_id
                  AND d.day BETWEEN b.first_day AND b.last_day)
)
SELECT true AS is_block, id, generated_at
  FROM blocks
 WHERE has_sketch
UNION ALL
SELECT false, d.id, d.generated_at
  FROM daily_metric_rollups d
 WHERE d.day BETWEEN %(from_day)s::date AND %(to_day)s::date
   AND (%(property_id)s::text IS NULL OR d.property_id = %(property_id)s::text)
   AND d.visitors_sketch IS NOT NULL
   AND NOT EXISTS (
           SELECT 1
             FROM blocks b
            WHERE b.property_id = d.property_id
              AND d.day BETWEEN b.first_day AND b.last_day)
