-- Mark the days from %(first_day)s to %(last_day)s dirty as they settle, in the rows of
-- backend 0 (no writer's): the last writes that marked nothing are in, so each is rolled up
-- once more after them.
INSERT INTO rollup_dirty_days AS d (day, backend_pid, marked_at)
SELECT day::date, 0, %(marked_at)s::timestamptz
  FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS day
ON CONFLICT (day, backend_pid) DO UPDATE
   SET version = EXCLUDED.version
