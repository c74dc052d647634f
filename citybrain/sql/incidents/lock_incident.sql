SELECT id, status, tier, team_id, category, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM citybrain.incidents WHERE id = %(id)s FOR UPDATE
