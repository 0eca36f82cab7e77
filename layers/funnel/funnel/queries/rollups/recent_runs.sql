-- The latest rollup runs, newest first, with what each found.
SELECT id, trigger, scope, from_day, to_day, property_id, status, days, skipped_days, dirty_days,
       carried_days, rows_written, discrepancies, discrepancy_details, error, started_at, finished_at
  FROM rollup_runs
 ORDER BY started_at DESC, id
 LIMIT %(limit)s
