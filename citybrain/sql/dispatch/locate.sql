-- The whole chain of a WGS84 point, from its micro-grid up to its town, and the grid's team.
-- A point on a shared edge belongs to the micro-grid with the lowest id: the rule of
-- citybrain.micro_grid_at(), written inline so that the prepared statement's plan covers it.
SELECT json_build_object('id', t.id, 'code', t.code, 'name', t.name)  AS town,
       json_build_object('id', v.id, 'code', v.code, 'name', v.name, 'kind', v.kind) AS village,
       json_build_object('id', g.id, 'code', g.code, 'name', g.name)  AS grid,
       json_build_object('id', c.id, 'code', c.code, 'name', c.name, 'kind', c.kind) AS compound,
       json_build_object('id', m.id, 'code', m.code, 'name', m.name,
                         'population', m.population, 'households', m.households) AS micro_grid,
       (SELECT json_build_object('id', tm.id, 'name', tm.name, 'status', tm.status,
                                 'skills', tm.skills, 'members', tm.members)
          FROM citybrain.teams tm WHERE tm.grid_id = g.id ORDER BY tm.id LIMIT 1) AS team
FROM citybrain.micro_grids m
JOIN citybrain.compounds c ON c.id = m.compound_id
JOIN citybrain.grids g ON g.id = c.grid_id
JOIN citybrain.villages v ON v.id = g.village_id
JOIN citybrain.towns t ON t.id = v.town_id
WHERE m.id = (
    SELECT h.id FROM citybrain.micro_grids h
    WHERE ST_Intersects(h.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
    ORDER BY h.id LIMIT 1
)
