-- Hold the lock of one run of 64 days' sketch blocks (the days sharing ordinal >> 6)
-- until the transaction ends: two days of it rolled up at once rebuild their common
-- blocks one after the other, each from the other's committed rows.
SELECT pg_advisory_xact_lock(%(lock_space)s::integer, %(top_block)s::integer)
