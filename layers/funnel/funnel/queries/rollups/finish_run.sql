-- Record how a rollup run ended: 'succeeded' or 'failed' (with its error), the days it
-- rolled up and skipped, the dirty days it rolled up and left for the next run, the rows
-- it wrote and the discrepancies its monitor found.
UPDATE rollup_runs
   SET status              = %(status)s,
       days                = %(days)s,
       skipped_days        = %(skipped_days)s,
       dirty_days          = %(dirty_days)s,
       carried_days        = %(carried_days)s,
       rows_written        = %(rows_written)s,
       discrepancies       = %(discrepancies)s,
       discrepancy_details = %(discrepancy_details)s,
       error               = %(error)s,
       finished_at         = %(finished_at)s
 WHERE id = %(id)s
