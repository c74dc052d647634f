-- Every micro-grid's residents and a point on its surface (for one too small to hold a
-- cell's centre).
SELECT id, population, ST_X(p), ST_Y(p)
FROM (SELECT id, population, ST_PointOnSurface(geom) p FROM citybrain.micro_grids) s
