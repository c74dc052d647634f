-- The road network's vertices, for the in-memory router.
SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.road_vertices
