-- Heatmap hexagons as a vector tile, layer "heatmap": one feature per cell (id: the cell's
-- 64-bit id; h3: its hex id; value: the count), the hexagon given as Web Mercator WKB by the
-- caller (PostgreSQL here has no H3) and clipped to the tile like every layer's geometry.
SELECT ST_AsMVT(f, 'heatmap', %(extent)s, 'geom', 'id')
FROM (
    SELECT u.cell AS id, u.h3, u.value,
           ST_AsMVTGeom(ST_GeomFromWKB(u.wkb, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s),
                        %(extent)s, %(buffer)s, true) AS geom
    FROM unnest(%(cells)s::bigint[], %(names)s::text[], %(values)s::bigint[], %(wkb)s::bytea[])
         AS u(cell, h3, value, wkb)
) f
WHERE f.geom IS NOT NULL
