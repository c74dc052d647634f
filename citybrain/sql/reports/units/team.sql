SELECT t.id, t.code, t.name, v.town_id, g.village_id, t.grid_id
FROM citybrain.teams t
JOIN citybrain.grids g ON g.id = t.grid_id
JOIN citybrain.villages v ON v.id = g.village_id
ORDER BY t.code
