-- What the discrepancy monitor of the latest succeeded run of the whole read model found
-- (that monitor checked every property and tenant), with the run's id.
SELECT id, discrepancy_details
  FROM rollup_runs
 WHERE status = 'succeeded'
   AND scope = 'all'
 ORDER BY finished_at DESC
 LIMIT 1
