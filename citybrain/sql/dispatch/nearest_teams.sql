-- Up to %(n)s teams nearest a point by the KNN index (<->, planar degrees), with their true
-- geodesic distance; the caller re-ranks by distance_m and checks that n was enough.
SELECT t.id, t.name, t.grid_id, t.status, t.skills, t.capacity,
       -- citybrain.team_active(t.id), inlined: a function call per row doubles this query
       (SELECT count(*) FROM citybrain.incidents i
         WHERE i.team_id = t.id AND i.status IN {domain.ACTIVE_STATUSES}) AS active,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat,
       ST_Distance(t.geom::geography, p.g::geography) AS distance_m,
       t.geom <-> p.g AS distance_deg
FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
CROSS JOIN LATERAL (
    SELECT * FROM citybrain.teams t
    WHERE (NOT %(available)s OR t.status = {domain.TeamStatus.available})
      AND (%(skill)s::text IS NULL OR t.skills @> ARRAY[%(skill)s::text])
      AND (%(box)s::float8 IS NULL OR t.geom && ST_Expand(p.g, %(box)s::float8))
    ORDER BY t.geom <-> p.g
    LIMIT %(n)s
) t
