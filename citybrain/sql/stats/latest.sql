-- The newest incidents (public fields), with where they are.
SELECT i.id, i.category, i.status, i.tier, i.severity, i.reported_at, i.updated_at,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, t.name AS town, g.name AS grid
FROM citybrain.incidents i
LEFT JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
LEFT JOIN citybrain.grids g ON g.id = ch.grid_id
LEFT JOIN citybrain.towns t ON t.id = ch.town_id
ORDER BY i.id DESC
LIMIT %(limit)s
