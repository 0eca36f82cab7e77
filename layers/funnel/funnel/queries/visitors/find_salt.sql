-- The salt of a UTC day.
SELECT salt FROM visitor_salts WHERE day = %(day)s
