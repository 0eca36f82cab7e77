-- Every property with a marketing rollup, in order: the distinct leading column of
-- daily_metric_rollups_property_day_key, read one index probe per property (a loose index
-- scan), so its cost follows the properties, not their days.
WITH RECURSIVE known (property_id) AS (
    (SELECT property_id FROM daily_metric_rollups ORDER BY property_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.property_id
              FROM daily_metric_rollups AS r
             WHERE r.property_id > known.property_id
             ORDER BY r.property_id
             LIMIT 1)
      FROM known
     WHERE known.property_id IS NOT NULL
)
SELECT property_id
  FROM known
 WHERE property_id IS NOT NULL
