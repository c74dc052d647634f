-- A windowed point layer's clusters as a vector tile: one feature per H3 cell (id: the cell's
-- 64-bit id; h3: its hex id; count: incidents), placed at the cell's centre, which the caller
-- has already chosen to lie in this tile (half-open: [min, max) on both axes), so that no
-- cluster is drawn twice across tiles. Counts come from the incident index, not from the rows.
SELECT ST_AsMVT(f, %(name)s, %(extent)s, 'geom', 'id')
FROM (
    SELECT u.cell AS id, u.h3, u.n AS count,
           ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(u.x, u.y), 3857),
                        ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(extent)s, %(buffer)s, true) AS geom
    FROM unnest(%(cells)s::bigint[], %(names)s::text[], %(counts)s::bigint[],
                %(xs)s::float8[], %(ys)s::float8[]) AS u(cell, h3, n, x, y)
) f
WHERE f.geom IS NOT NULL
