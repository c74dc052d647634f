-- Up to %(n)s facilities nearest a point by the KNN index, with their true geodesic distance.
SELECT f.id, f.name, f.kind, f.level, f.capacity,
       ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat,
       ST_Distance(f.geom::geography, p.g::geography) AS distance_m,
       f.geom <-> p.g AS distance_deg
FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
CROSS JOIN LATERAL (
    SELECT * FROM citybrain.facilities f
    WHERE (%(facility_kind)s::text IS NULL OR f.kind = %(facility_kind)s::text)
      AND (%(box)s::float8 IS NULL OR f.geom && ST_Expand(p.g, %(box)s::float8))
    ORDER BY f.geom <-> p.g
    LIMIT %(n)s
) f
