SELECT g.id, g.code, g.name, v.town_id, g.village_id, g.id AS grid_id
FROM citybrain.grids g JOIN citybrain.villages v ON v.id = g.village_id ORDER BY g.code
