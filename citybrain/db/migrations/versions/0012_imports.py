"""Real data in: a log of imports, natural keys on every layer, where each row came from.

- ``imports``: one row per import run that wrote (source file name and SHA-256, options, who,
  when, and how many rows were inserted, updated, unchanged, rejected and repaired). Every layer
  row carries ``import_id``, the run that last inserted or changed it (NULL: made by citybrain -
  the synthetic county, the API).
- Natural keys: teams and facilities get a ``code`` (backfilled from their grid and id, as the
  synthetic county now makes them); incidents get ``external_id`` (a 12345 work-order number),
  unique where given.
- ``derived`` on the five polygon levels: the geometry was built by citybrain (villages drawn
  around their committees' locations), not surveyed; maps and cards say so.
- ``incidents.location_quality``: ``exact`` for a located point, or the level of the area
  whose representative point stands in for an address without coordinates.
- ``attributes`` (jsonb) on every layer: the source's columns that no citybrain column takes,
  kept as they were (never on a map layer: they may hold names and phone numbers).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
POLYGONS = ("towns", "villages", "grids", "compounds", "micro_grids")
POINTS = ("teams", "cameras", "facilities", "incidents")
LAYERS = (*POLYGONS, *POINTS)
CELLS = {
    "teams": "geom, h3",
    "cameras": "geom, h3",
    "facilities": "geom, h3",
    "incidents": "geom, h3, h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11",
}

DOWNGRADE = (
    "".join(
        f"DROP TRIGGER {t}_cells ON citybrain.{t};\n"
        f"CREATE TRIGGER {t}_cells BEFORE INSERT OR UPDATE OF {c} ON citybrain.{t} "
        "FOR EACH ROW EXECUTE FUNCTION citybrain.fill_cells();\n"
        for t, c in CELLS.items()
    )
    + "".join(
        f"ALTER TABLE citybrain.{t} DROP COLUMN import_id, DROP COLUMN attributes;\n"
        for t in LAYERS
    )
    + "".join(f"ALTER TABLE citybrain.{t} DROP COLUMN derived;\n" for t in POLYGONS)
    + """
ALTER TABLE citybrain.incidents DROP COLUMN location_quality, DROP COLUMN external_id;
DROP TRIGGER facilities_code ON citybrain.facilities;
DROP TRIGGER teams_code ON citybrain.teams;
DROP FUNCTION citybrain.fill_code();
ALTER TABLE citybrain.facilities DROP COLUMN code;
ALTER TABLE citybrain.teams DROP COLUMN code;
DROP TABLE citybrain.imports;
"""
)


def upgrade() -> None:
    op.execute((SQL / "0012_imports.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute(DOWNGRADE)
    # 0011's incidents_announce back (no citybrain.announce switch), from its frozen SQL file.
    op.execute((SQL / "0011_bulk_announcements.sql").read_text(encoding="utf-8"))
