-- Migration 0009: tile versions counted up to zoom 14, tiles found by arithmetic on the box.

-- The XYZ tiles (Web Mercator) at zooms 0-14 that a geometry's bounding box
-- touches, widened by the 64/4096 tile buffer that vector tiles draw beyond their edges; where
-- that is more than 16 tiles, the zoom as a whole (x = y = -1). fx, fy: the box's corners as
-- fractions of the world (0..1 from west and from north).
CREATE OR REPLACE FUNCTION citybrain.tiles_touched(g geometry)
RETURNS TABLE (z integer, x integer, y integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH f AS (
        SELECT (ST_XMin(g) + 180) / 360 AS fx0, (ST_XMax(g) + 180) / 360 AS fx1,
               (1 - ln(tan(pi() / 4 + radians(least(ST_YMax(g), 85.0511287798)) / 2)) / pi()) / 2
                   AS fy0,
               (1 - ln(tan(pi() / 4 + radians(greatest(ST_YMin(g), -85.0511287798)) / 2)) / pi()) / 2
                   AS fy1
        WHERE NOT ST_IsEmpty(g) AND ST_XMax(g) >= -180 AND ST_XMin(g) <= 180
          AND ST_YMax(g) >= -85.0511287798 AND ST_YMin(g) <= 85.0511287798
    ), r AS (
        SELECT zz AS z,
               greatest(0, floor(fx0 * (1 << zz) - 64.0 / 4096))::int AS x0,
               least((1 << zz) - 1, floor(fx1 * (1 << zz) + 64.0 / 4096))::int AS x1,
               greatest(0, floor(fy0 * (1 << zz) - 64.0 / 4096))::int AS y0,
               least((1 << zz) - 1, floor(fy1 * (1 << zz) + 64.0 / 4096))::int AS y1
        FROM f, generate_series(0, 14) zz
    )
    SELECT r.z, xs, ys FROM r, generate_series(r.x0, r.x1) xs, generate_series(r.y0, r.y1) ys
    WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) <= 16
    UNION ALL
    SELECT r.z, -1, -1 FROM r WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) > 16
$$;
