-- The number of leads first captured in [start_at, end_at), of one property or of every
-- property when property_id is NULL: count_leads_captured.sql's total row alone, for a
-- funnel without groups (no grouping of every lead, and an index-only scan can answer it).
SELECT true     AS is_total,
       NULL     AS grp,
       count(*) AS leads
  FROM leads
 WHERE first_captured_at >= %(start_at)s::timestamptz
   AND first_captured_at < %(end_at)s::timestamptz
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
