-- The county's bounds: the towns' extent (TileJSON's bounds).
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT ST_Extent(geom) e FROM citybrain.towns) s
