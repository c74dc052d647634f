-- A team's home grid as an area (a member's area is its team's grid).
SELECT g.code, v.town_id, v.id AS village_id, g.id AS grid_id
FROM citybrain.teams tm
JOIN citybrain.grids g ON g.id = tm.grid_id
JOIN citybrain.villages v ON v.id = g.village_id
WHERE tm.id = %(team)s
