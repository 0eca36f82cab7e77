-- bench-concurrency's baseline on the late path: one dirty-day row per day, which every
-- late write updates (backend 0 for all), instead of a row per day and backend (0014).
INSERT INTO rollup_dirty_days AS d (day, backend_pid, marked_at)
SELECT day, 0, %(marked_at)s::timestamptz
  FROM unnest(%(days)s::date[]) AS day
 ORDER BY day
ON CONFLICT (day, backend_pid) DO UPDATE
   SET version = EXCLUDED.version
