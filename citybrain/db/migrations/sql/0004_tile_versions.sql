-- Migration 0004: tile versions. CREATE OR REPLACE throughout: migration 0009's downgrade
-- applies this file again to put back tiles_touched at zooms 0-22 (tiles_bump and
-- tiles_bump_table are rewritten as they are).

-- The XYZ tiles (Web Mercator) at each zoom that a geometry's bounding box touches, widened by
-- the 64/4096 tile buffer that vector tiles draw beyond their edges; where that is more than
-- 16 tiles, the zoom as a whole (x = y = -1).
CREATE OR REPLACE FUNCTION citybrain.tiles_touched(g geometry)
RETURNS TABLE (z integer, x integer, y integer)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    WITH b AS (
        SELECT ST_Transform(ST_Envelope(ST_Intersection(g,
                   ST_MakeEnvelope(-180, -85.0511, 180, 85.0511, 4326))), 3857) AS e
    ), r AS (
        SELECT zz AS z, (1 << zz) AS n,
               greatest(0, floor((ST_XMin(e) + 20037508.342789244) * (1 << zz) / 40075016.685578488
                                 - 64.0 / 4096))::int AS x0,
               least((1 << zz) - 1, floor((ST_XMax(e) + 20037508.342789244) * (1 << zz)
                                          / 40075016.685578488 + 64.0 / 4096))::int AS x1,
               greatest(0, floor((20037508.342789244 - ST_YMax(e)) * (1 << zz) / 40075016.685578488
                                 - 64.0 / 4096))::int AS y0,
               least((1 << zz) - 1, floor((20037508.342789244 - ST_YMin(e)) * (1 << zz)
                                          / 40075016.685578488 + 64.0 / 4096))::int AS y1
        FROM b, generate_series(0, 22) zz
        WHERE NOT ST_IsEmpty(e)
    )
    SELECT r.z, xs, ys FROM r, generate_series(r.x0, r.x1) xs, generate_series(r.y0, r.y1) ys
    WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) <= 16
    UNION ALL
    SELECT r.z, -1, -1 FROM r WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) > 16
$$;

-- Statement-level: one upsert per statement, whatever the number of rows.
CREATE OR REPLACE FUNCTION citybrain.tiles_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO citybrain.tile_versions AS v (tbl, z, x, y, v)
        SELECT TG_TABLE_NAME, t.z, t.x, t.y, count(*)
        FROM new_rows r CROSS JOIN LATERAL citybrain.tiles_touched(r.geom) t GROUP BY 1, 2, 3, 4
        ON CONFLICT (tbl, z, x, y) DO UPDATE SET v = v.v + excluded.v;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO citybrain.tile_versions AS v (tbl, z, x, y, v)
        SELECT TG_TABLE_NAME, t.z, t.x, t.y, count(*)
        FROM old_rows r CROSS JOIN LATERAL citybrain.tiles_touched(r.geom) t GROUP BY 1, 2, 3, 4
        ON CONFLICT (tbl, z, x, y) DO UPDATE SET v = v.v + excluded.v;
    ELSIF TG_OP = 'UPDATE' THEN  -- where it was and where it is
        INSERT INTO citybrain.tile_versions AS v (tbl, z, x, y, v)
        SELECT TG_TABLE_NAME, t.z, t.x, t.y, count(*)
        FROM (SELECT geom FROM old_rows UNION ALL SELECT geom FROM new_rows) r
        CROSS JOIN LATERAL citybrain.tiles_touched(r.geom) t GROUP BY 1, 2, 3, 4
        ON CONFLICT (tbl, z, x, y) DO UPDATE SET v = v.v + excluded.v;
    ELSE  -- TRUNCATE
        PERFORM citybrain.tiles_bump_table(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$;

-- Every tile of a table at once (after a truncate or a bulk load).
CREATE OR REPLACE FUNCTION citybrain.tiles_bump_table(tbl text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO citybrain.tile_versions AS v (tbl, z, x, y, v) VALUES (tbl, -1, -1, -1, 1)
    ON CONFLICT (tbl, z, x, y) DO UPDATE SET v = v.v + 1
$$;
