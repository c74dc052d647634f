-- Pairs of grids (a < b) that share a boundary: a line, not a corner (DE-9IM '****1****').
SELECT a.id AS a, b.id AS b FROM citybrain.grids a JOIN citybrain.grids b
ON a.id < b.id AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, '****1****')
