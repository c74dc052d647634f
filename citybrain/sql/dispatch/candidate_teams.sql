-- The candidates of a dispatch: the 12 available teams handling a category nearest a point
-- (KNN index), with their load and true distance; the service ranks them by ETA, and fetches
-- farther teams (team_positions) only where one could still be sooner. The LIMIT is a constant
-- (dispatch.NEAREST) so that even a cached generic plan walks the index.
SELECT t.id, t.name, t.grid_id, t.status, t.skills, t.capacity,
       -- citybrain.team_active(t.id), inlined: a function call per row doubles this query
       (SELECT count(*) FROM citybrain.incidents i
         WHERE i.team_id = t.id AND i.status IN {domain.ACTIVE_STATUSES}) AS active,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, t.position_at,
       ST_Distance(t.geom::geography, p.g::geography) AS distance_m
FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
CROSS JOIN LATERAL (
    SELECT * FROM citybrain.teams t
    WHERE t.status = {domain.TeamStatus.available} AND t.skills @> ARRAY[%(skill)s::text]
    ORDER BY t.geom <-> p.g
    LIMIT 12
) t
