-- Record a rollup run as it starts (committed on its own, so a run that dies is still
-- seen, as 'running'); returns its id.
INSERT INTO rollup_runs (trigger, scope, from_day, to_day, property_id, started_at)
VALUES (%(trigger)s, %(scope)s, %(from_day)s, %(to_day)s, %(property_id)s, %(started_at)s)
RETURNING id
