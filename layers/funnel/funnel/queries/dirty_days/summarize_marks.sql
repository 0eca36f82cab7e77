-- The dirty days waiting for a run: how many, the oldest, and since when the oldest mark
-- has waited.
SELECT count(DISTINCT day) AS days, min(day) AS oldest_day, min(marked_at) AS oldest_mark
  FROM rollup_dirty_days
