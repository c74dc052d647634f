"""Tile versions: every write to a table that map layers draw counts into the tiles its
geometry touches, in the same transaction, whoever writes; tile caches compare versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = (
    "towns",
    "villages",
    "grids",
    "compounds",
    "micro_grids",
    "teams",
    "cameras",
    "facilities",
    "incidents",
    "roads",
)
MAX_ZOOM = 22
MAX_TILES = 16  # more tiles than this at a zoom: count the write into the whole zoom instead


def tiles_touched(max_zoom: int) -> str:
    """The function below, counting zooms 0..max_zoom (0009 lowers it to 14)."""
    return f"""
-- The XYZ tiles (Web Mercator) at each zoom that a geometry's bounding box touches, widened by
-- the 64/4096 tile buffer that vector tiles draw beyond their edges; where that is more than
-- {MAX_TILES} tiles, the zoom as a whole (x = y = -1).
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
        FROM b, generate_series(0, {max_zoom}) zz
        WHERE NOT ST_IsEmpty(e)
    )
    SELECT r.z, xs, ys FROM r, generate_series(r.x0, r.x1) xs, generate_series(r.y0, r.y1) ys
    WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) <= {MAX_TILES}
    UNION ALL
    SELECT r.z, -1, -1 FROM r WHERE (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1) > {MAX_TILES}
$$;
"""


FUNCTIONS = """
-- Statement-level: one upsert per statement, whatever the number of rows.
CREATE FUNCTION citybrain.tiles_bump() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE FUNCTION citybrain.tiles_bump_table(tbl text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO citybrain.tile_versions AS v (tbl, z, x, y, v) VALUES (tbl, -1, -1, -1, 1)
    ON CONFLICT (tbl, z, x, y) DO UPDATE SET v = v.v + 1
$$;
"""


def upgrade() -> None:
    op.create_table(
        "tile_versions",
        sa.Column("tbl", sa.Text(), nullable=False),
        sa.Column("z", sa.SmallInteger(), nullable=False),
        sa.Column("x", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("y", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("v", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tbl", "z", "x", "y"),
        schema="citybrain",
    )
    op.execute(tiles_touched(MAX_ZOOM))
    op.execute(FUNCTIONS)
    for t in TABLES:
        for event, refs in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ):
            op.execute(
                f"CREATE TRIGGER {t}_tiles_{event.lower()} AFTER {event} ON citybrain.{t} "
                f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION citybrain.tiles_bump()"
            )
        op.execute(
            f"CREATE TRIGGER {t}_tiles_truncate AFTER TRUNCATE ON citybrain.{t} "
            "FOR EACH STATEMENT EXECUTE FUNCTION citybrain.tiles_bump()"
        )


def downgrade() -> None:
    for t in TABLES:
        for event in ("insert", "delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER {t}_tiles_{event} ON citybrain.{t}")
    op.execute("DROP FUNCTION citybrain.tiles_bump()")
    op.execute("DROP FUNCTION citybrain.tiles_bump_table(text)")
    op.execute("DROP FUNCTION citybrain.tiles_touched(geometry)")
    op.drop_table("tile_versions", schema="citybrain")
