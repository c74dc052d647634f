-- The town a geometry (an alert of H3 cells) lies in.
SELECT t.name FROM citybrain.towns t
WHERE ST_Intersects(t.geom, ST_PointOnSurface(ST_GeomFromWKB(%(wkb)s, 4326)))
LIMIT 1
