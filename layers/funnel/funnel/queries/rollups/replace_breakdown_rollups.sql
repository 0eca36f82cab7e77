-- Replace one UTC day's breakdowns: delete the day's rows (of every property, or only of
-- %(only_property)s) and insert the recomputed ones (one array per column, property_ids
-- first). Both in one statement: the DELETE sees the rows as they were before it, so it
-- never removes what the INSERT adds. Returns the rows inserted and deleted.
WITH deleted AS (
    DELETE FROM daily_breakdown_rollups
     WHERE day = %(day)s::date
       AND (%(only_property)s::text IS NULL OR property_id = %(only_property)s::text)
    RETURNING 1
), inserted AS (
    INSERT INTO daily_breakdown_rollups
           (property_id, day, dimension, key, visitors, visitors_sketch, page_views, entrances, conversions,
            generated_at)
    SELECT property_id, %(day)s::date, dimension, key, visitors, visitors_sketch, page_views, entrances,
           conversions, %(generated_at)s
      FROM unnest(%(property_ids)s::text[], %(dimensions)s::text[], %(keys)s::text[], %(visitors)s::integer[],
                  %(visitors_sketches)s::bytea[], %(page_views)s::integer[], %(entrances)s::integer[],
                  %(conversions)s::integer[])
           AS f (property_id, dimension, key, visitors, visitors_sketch, page_views, entrances, conversions)
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS upserted,
       (SELECT count(*) FROM deleted)  AS deleted
