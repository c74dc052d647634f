-- A layer's spatial extent (and, with a time column, its temporal one); {where} is the layer
-- file's own condition, or TRUE.
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0, t1
FROM (SELECT ST_Extent(s.geom) e, min({time}) t0, max({time}) t1 FROM {table} s WHERE {where}) x
