-- Every area of a level of the hierarchy with a point inside it (the centre of its circles).
SELECT a.id, a.code, a.name, ST_X(p) AS lon, ST_Y(p) AS lat
FROM {table} a, LATERAL ST_PointOnSurface(a.geom) p
ORDER BY a.id
