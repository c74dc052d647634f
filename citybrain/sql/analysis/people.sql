-- Residents by micro-grid, placed at its point on surface, with its village and town (the
-- demand of the accessibility analyses; analysis.load.people).
SELECT m.id, m.population, ST_X(p) AS lon, ST_Y(p) AS lat, v.id AS village_id,
       v.name AS village, t.name AS town
FROM (SELECT *, ST_PointOnSurface(geom) p FROM citybrain.micro_grids) m
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = m.id
JOIN citybrain.villages v ON v.id = ch.village_id
JOIN citybrain.towns t ON t.id = ch.town_id
