-- The chain of a point that no micro-grid holds, as deep as the data goes: a county of towns
-- and village seats not yet divided into grids, or a level imported ahead of the ones below
-- it. Top down, each level looked for inside the one above (the lowest id on a shared edge,
-- as for micro-grids); NULL below the finest level that holds the point. No town: no row.
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS pt),
t AS (
    SELECT t.id, t.code, t.name FROM citybrain.towns t, p
    WHERE ST_Intersects(t.geom, p.pt) ORDER BY t.id LIMIT 1
),
v AS (
    SELECT v.id, v.code, v.name, v.kind FROM citybrain.villages v, p, t
    WHERE v.town_id = t.id AND ST_Intersects(v.geom, p.pt) ORDER BY v.id LIMIT 1
),
g AS (
    SELECT g.id, g.code, g.name FROM citybrain.grids g, p, v
    WHERE g.village_id = v.id AND ST_Intersects(g.geom, p.pt) ORDER BY g.id LIMIT 1
),
c AS (
    SELECT c.id, c.code, c.name, c.kind FROM citybrain.compounds c, p, g
    WHERE c.grid_id = g.id AND ST_Intersects(c.geom, p.pt) ORDER BY c.id LIMIT 1
)
SELECT (SELECT row_to_json(t) FROM t) AS town,
       (SELECT row_to_json(v) FROM v) AS village,
       (SELECT row_to_json(g) FROM g) AS grid,
       (SELECT row_to_json(c) FROM c) AS compound,
       NULL::json AS micro_grid,
       (SELECT json_build_object('id', tm.id, 'name', tm.name, 'status', tm.status,
                                 'skills', tm.skills, 'members', tm.members)
          FROM citybrain.teams tm, g WHERE tm.grid_id = g.id ORDER BY tm.id LIMIT 1) AS team
FROM t
