-- The dirty days from %(first_day)s to %(last_day)s, oldest first.
SELECT DISTINCT day
  FROM rollup_dirty_days
 WHERE day BETWEEN %(first_day)s::date AND %(last_day)s::date
 ORDER BY day
