-- Forget the marks of days before the first day raw retention keeps: their raw data is
-- gone, so their rollups, the only record left, are never recomputed. Returns each day.
DELETE FROM rollup_dirty_days
 WHERE day < %(first_kept_day)s::date
RETURNING day
