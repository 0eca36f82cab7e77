-- Hold one UTC day's rollup lock until the transaction ends: runs of the same day (an
-- hourly run and a backfill, two invocations) recompute it one after the other.
SELECT pg_advisory_xact_lock(%(lock_space)s::integer, %(day_number)s::integer)
