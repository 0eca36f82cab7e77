-- What the discrepancy monitor of the latest succeeded run of the whole read model found
-- (that monitor checked every property and tenant), with the run's id and end.
SELECT id, finished_at, discrepancy_details
  FROM rollup_runs
 WHERE status = 'succeeded'
   AND scope = 'all'
 ORDER BY finished_at DESC
 LIMIT 1
