-- The alerts of one detector and category that a new finding may continue: those its previous
-- run still saw, and those not closed that it saw within %(since)s (a cluster near the
-- threshold that one run missed is the same cluster). A finding that shares an area with one
-- of them updates it instead of raising another.
SELECT id, area_codes FROM citybrain.alerts
WHERE detector = %(detector)s AND category IS NOT DISTINCT FROM %(category)s
  AND (active OR (status <> ALL (%(closed)s::text[]) AND last_seen >= %(since)s))
ORDER BY active DESC, id
FOR UPDATE
