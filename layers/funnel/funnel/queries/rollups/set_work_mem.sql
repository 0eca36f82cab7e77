-- Give the rest of this transaction %(work_mem)s of sort and hash memory per operation:
-- a day's rollup groups every page view of the day at once, and the server's default
-- (4 MB, sized for many small queries) would spill those groups to disk, or have the
-- planner walk an index of the whole table to avoid sorting them.
SELECT set_config('work_mem', %(work_mem)s, true)
