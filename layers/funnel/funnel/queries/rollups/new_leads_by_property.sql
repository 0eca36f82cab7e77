-- Leads first captured in one UTC day, per property (every property, or only
-- %(property_id)s), with the sum and count of their times to first capture: capture
-- minus the visitor's first visit, in whole milliseconds (truncated), for the leads
-- whose first visit is known. A capture stamped before the first visit (clock skew)
-- counts as 0, never negative.
WITH captured AS (
    -- greatest() skips NULLs, so a lead whose first visit is unknown is kept NULL here
    SELECT property_id,
           CASE WHEN visitor_first_seen_at IS NOT NULL
                THEN greatest(0, floor(extract(epoch FROM first_captured_at - visitor_first_seen_at) * 1000))
           END AS capture_ms
      FROM leads
     WHERE first_captured_at >= %(day_start)s
       AND first_captured_at < %(day_end)s
       AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
)
SELECT property_id,
       count(*)                               AS new_leads,
       coalesce(sum(capture_ms), 0)::bigint AS time_to_first_capture_sum_ms,
       count(capture_ms)                      AS time_to_first_capture_count
  FROM captured
 GROUP BY property_id
