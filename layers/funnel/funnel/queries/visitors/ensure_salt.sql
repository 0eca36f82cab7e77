-- The salt of a UTC day, created with the given random bytes if the day has none yet.
-- Returns nothing when a concurrent transaction created it after this statement began.
WITH created AS (
    INSERT INTO visitor_salts (day, salt)
    VALUES (%(day)s, %(salt)s)
    ON CONFLICT (day) DO NOTHING
    RETURNING salt
)
SELECT salt FROM created
UNION ALL
SELECT salt FROM visitor_salts WHERE day = %(day)s
LIMIT 1
