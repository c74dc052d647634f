"""Tile versions are counted up to zoom 14; a tile above it takes the version of its zoom-14
ancestor. Counting every zoom to 22 wrote a row per distinct deep tile (1.4 million rows,
192 MB, for a million incidents); a zoom-14 tile (~2.4 km here) holds every deeper tile inside
it, and its buffered extent holds theirs, so its version moves whenever theirs would have:
never stale, only coarser above z14.

And ``tiles_touched`` becomes arithmetic on the geometry's bounding box (Web Mercator tile
fractions from longitude and latitude) instead of a GEOS intersection and a PROJ transform per
row, and is no longer STRICT, so PostgreSQL inlines it: the tiles of 100,000 incidents in 5 s
instead of 27-37 s, the same tiles (compared on 20,000 incidents and every micro-grid).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from alembic import op

from citybrain.db.migrate import migration

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VERSIONED_MAX_ZOOM = 14  # citybrain.services.tiles reads versions the same way
MAX_LAT = 85.0511287798  # Web Mercator's edge
TILES_TOUCHED = f"""
-- The XYZ tiles (Web Mercator) at zooms 0-{VERSIONED_MAX_ZOOM} that a geometry's bounding box
-- touches, widened by the 64/4096 tile buffer that vector tiles draw beyond their edges; where
-- that is more than 16 tiles, the zoom as a whole (x = y = -1). fx, fy: the box's corners as
-- fractions of the world (0..1 from west and from north).
CREATE OR REPLACE FUNCTION citybrain.tiles_touched(g geometry)
RETURNS TABLE (z integer, x integer, y integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH f AS (
        SELECT (ST_XMin(g) + 180) / 360 AS fx0, (ST_XMax(g) + 180) / 360 AS fx1,
               (1 - ln(tan(pi() / 4 + radians(least(ST_YMax(g), {MAX_LAT})) / 2)) / pi()) / 2
                   AS fy0,
               (1 - ln(tan(pi() / 4 + radians(greatest(ST_YMin(g), -{MAX_LAT})) / 2)) / pi()) / 2
                   AS fy1
        WHERE NOT ST_IsEmpty(g) AND ST_XMax(g) >= -180 AND ST_XMin(g) <= 180
          AND ST_YMax(g) >= -{MAX_LAT} AND ST_YMin(g) <= {MAX_LAT}
    ), r AS (
        SELECT zz AS z,
               greatest(0, floor(fx0 * (1 << zz) - 64.0 / 4096))::int AS x0,
               least((1 << zz) - 1, floor(fx1 * (1 << zz) + 64.0 / 4096))::int AS x1,
               greatest(0, floor(fy0 * (1 << zz) - 64.0 / 4096))::int AS y0,
               least((1 << zz) - 1, floor(fy1 * (1 << zz) + 64.0 / 4096))::int AS y1
        FROM f, generate_series(0, {VERSIONED_MAX_ZOOM}) zz
    )
    SELECT r.z, xs, ys FROM r, generate_series(r.x0, r.x1) xs, generate_series(r.y0, r.y1) ys
    WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) <= 16
    UNION ALL
    SELECT r.z, -1, -1 FROM r WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) > 16
$$;
"""


def upgrade() -> None:
    op.execute(TILES_TOUCHED)
    op.execute(f"DELETE FROM citybrain.tile_versions WHERE z > {VERSIONED_MAX_ZOOM}")


def downgrade() -> None:
    m = migration("0004_tile_versions.py")
    op.execute(m.tiles_touched(m.MAX_ZOOM))
    # Deeper tiles have no rows yet: bump every table once so no cached tile stays valid.
    for table in m.TABLES:
        op.execute(f"SELECT citybrain.tiles_bump_table('{table}')")
