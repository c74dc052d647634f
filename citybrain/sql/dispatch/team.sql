-- Teams by id with the same columns as candidate_teams, and their distance from a point.
SELECT t.id, t.name, t.grid_id, t.status, t.skills, t.capacity,
       -- citybrain.team_active(t.id), inlined: a function call per row doubles this query
       (SELECT count(*) FROM citybrain.incidents i
         WHERE i.team_id = t.id AND i.status IN {domain.ACTIVE_STATUSES}) AS active,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, t.position_at,
       ST_Distance(t.geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography)
           AS distance_m
FROM citybrain.teams t WHERE t.id = ANY(%(ids)s)
ORDER BY t.id
