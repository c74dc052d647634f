-- Online cameras whose view sector covers a point: within range_m, and the bearing from the
-- camera to the point within fov/2 of its heading (domes see all around). Nearest first.
SELECT c.id, c.name, c.code, c.kind, c.heading, c.fov, c.range_m, c.online,
       ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, d.distance_m, d.bearing
FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
JOIN citybrain.cameras c ON c.geom && ST_Expand(p.g, %(box)s::float8)
    -- planar pre-check: degrees x per_degree never exceed metres, so this keeps every camera
    -- within its range and drops most others before the geodesic arithmetic
    AND ST_DWithin(c.geom, p.g, c.range_m / %(per_degree)s::float8)
CROSS JOIN LATERAL (
    SELECT ST_Distance(c.geom::geography, p.g::geography) AS distance_m,
           coalesce(degrees(ST_Azimuth(c.geom::geography, p.g::geography)), c.heading) AS bearing
) d
WHERE c.online
  AND d.distance_m <= c.range_m
  AND (c.fov >= 360 OR abs(mod((d.bearing - c.heading + 540)::numeric, 360) - 180) <= c.fov / 2)
ORDER BY d.distance_m, c.id
