-- Record the latest day that has settled (the row is created if it was removed).
INSERT INTO rollup_settled (one_row, settled_through)
VALUES (true, %(settled_through)s::date)
ON CONFLICT (one_row) DO UPDATE
   SET settled_through = EXCLUDED.settled_through
