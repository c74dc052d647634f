-- The road graph's vertices as the router takes them (analysis.travel.road_router).
SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM citybrain.road_vertices ORDER BY id
