-- Clear the marks of a day just recomputed, only those still at the version read before
-- the recompute: a mark written since (its write may have committed after the recompute
-- read the raw data) stays for the next run. A mark being written is waited for.
DELETE FROM rollup_dirty_days AS d
 USING unnest(%(backend_pids)s::integer[], %(versions)s::bigint[]) AS seen (backend_pid, version)
 WHERE d.day = %(day)s::date
   AND d.backend_pid = seen.backend_pid
   AND d.version = seen.version
