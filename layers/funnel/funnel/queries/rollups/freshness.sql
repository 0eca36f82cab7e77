-- How fresh the read model is: the latest UTC day that a succeeded run of the whole read
-- model rolled up after the day had ended (the run started on a later UTC day, so the
-- day was complete when recomputed), and when the latest such run finished. A run that
-- started before midnight recomputed that day while it was still open, so started_at,
-- not finished_at, decides.
WITH runs AS (
    SELECT from_day,
           least(to_day, (started_at AT TIME ZONE 'UTC')::date - 1) AS through,
           finished_at
      FROM rollup_runs
     WHERE status = 'succeeded'
       AND NOT dry_run
       AND scope = 'all'
)
SELECT max(through) FILTER (WHERE through >= from_day) AS rolled_up_through,
       max(finished_at)                                AS generated_at
  FROM runs
