-- A team, with its active cases and position.
SELECT t.id, t.name, t.grid_id, t.status, t.skills, t.members, t.capacity,
       citybrain.team_active(t.id) AS active,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, t.micro_grid_id, t.position_at
FROM citybrain.teams t WHERE t.id = %(id)s
