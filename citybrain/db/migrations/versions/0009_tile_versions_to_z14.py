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

from pathlib import Path

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
VERSIONED_MAX_ZOOM = 14  # citybrain.services.tiles reads versions the same way
TABLES = (  # as migration 0004
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


def upgrade() -> None:
    op.execute((SQL / "0009_tile_versions_to_z14.sql").read_text(encoding="utf-8"))
    op.execute(f"DELETE FROM citybrain.tile_versions WHERE z > {VERSIONED_MAX_ZOOM}")


def downgrade() -> None:
    # 0004's functions from its frozen SQL file (CREATE OR REPLACE): tiles_touched back to
    # zooms 0-22; tiles_bump and tiles_bump_table, unchanged since 0004, stay as they are.
    op.execute((SQL / "0004_tile_versions.sql").read_text(encoding="utf-8"))
    # Deeper tiles have no rows yet: bump every table once so no cached tile stays valid.
    for table in TABLES:
        op.execute(f"SELECT citybrain.tiles_bump_table('{table}')")
