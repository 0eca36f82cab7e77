-- The traffic-log row of the page view with this client event id.
SELECT t.id
  FROM events e
  JOIN web_traffic_logs t ON t.event_id = e.id
 WHERE e.property_id = %(property_id)s
   AND e.client_event_id = %(page_view_client_id)s
