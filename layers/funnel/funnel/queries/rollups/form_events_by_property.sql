-- Form starts and submits in one UTC day, per property (every property, or only
-- %(property_id)s).
SELECT property_id,
       count(*) FILTER (WHERE event_type = 'form_start')  AS form_starts,
       count(*) FILTER (WHERE event_type = 'form_submit') AS form_submits
  FROM events
 WHERE occurred_at >= %(day_start)s
   AND occurred_at < %(day_end)s
   AND event_type IN ('form_start', 'form_submit')
   AND (%(property_id)s::text IS NULL OR property_id = %(property_id)s::text)
 GROUP BY property_id
