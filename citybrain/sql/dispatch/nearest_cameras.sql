-- Up to %(n)s cameras nearest a point by the KNN index, with their true geodesic distance.
SELECT c.id, c.name, c.code, c.kind, c.heading, c.fov, c.range_m, c.online, c.owner,
       ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
       ST_Distance(c.geom::geography, p.g::geography) AS distance_m,
       c.geom <-> p.g AS distance_deg
FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
CROSS JOIN LATERAL (
    SELECT * FROM citybrain.cameras c
    WHERE (NOT %(online)s OR c.online)
      AND (%(box)s::float8 IS NULL OR c.geom && ST_Expand(p.g, %(box)s::float8))
    ORDER BY c.geom <-> p.g
    LIMIT %(n)s
) c
