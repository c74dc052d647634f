-- An alert's incidents as a public screen may show them (the incidents layer's columns).
SELECT i.id, i.category, i.status, i.severity, i.reported_at, ST_X(i.geom) AS lon,
       ST_Y(i.geom) AS lat
FROM citybrain.incidents i
WHERE i.id = ANY (%(ids)s)
ORDER BY i.reported_at, i.id
