-- An alert's area at a level of the hierarchy: the union of its areas, their codes and names
-- (those holding most of the alert's incidents first, so the name says where the cases are),
-- and the town of the first.
WITH a AS (
    SELECT x.id, x.code, x.name, x.geom FROM {table} x WHERE x.id = ANY (%(ids)s)
), n AS (
    SELECT {area} AS id, count(*) AS n
    FROM citybrain.incidents i
    JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
    WHERE i.id = ANY (%(incidents)s::bigint[])
    GROUP BY 1
), r AS (
    SELECT a.*, coalesce(n.n, 0) AS n FROM a LEFT JOIN n ON n.id = a.id
)
SELECT ST_AsBinary(ST_Multi(ST_Union(r.geom))) AS wkb,
       array_agg(r.code ORDER BY r.n DESC, r.code) AS codes,
       array_agg(r.name ORDER BY r.n DESC, r.code) AS names,
       (SELECT t.name FROM citybrain.towns t, (SELECT geom FROM r ORDER BY n DESC, code LIMIT 1) f
        WHERE ST_Intersects(t.geom, ST_PointOnSurface(f.geom)) LIMIT 1) AS town
FROM r
