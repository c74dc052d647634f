-- The alerts of one detector and category that its last run still saw: a new finding that
-- shares an area with one of them updates it instead of raising another.
SELECT id, area_codes FROM citybrain.alerts
WHERE active AND detector = %(detector)s AND category IS NOT DISTINCT FROM %(category)s
ORDER BY id
FOR UPDATE
