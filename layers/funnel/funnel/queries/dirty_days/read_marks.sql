-- One day's marks as they are before its rollup reads the raw data: what that rollup may
-- clear once it has replaced the day.
SELECT backend_pid, version
  FROM rollup_dirty_days
 WHERE day = %(day)s::date
