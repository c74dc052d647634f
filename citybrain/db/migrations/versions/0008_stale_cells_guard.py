"""A point moved without its H3 cells is refused: PostgreSQL here has no H3 to recompute them,
and a stale cell would put the point in the wrong place on every heatmap and ``GROUP BY h3``.

A move longer than a cell can be wide (three average edge lengths) that keeps the cell is
certainly wrong; a shorter one may keep it rightly and passes. ``h3`` (resolution 15, cells
under 1.1 m across) is checked for every point table, ``h3_5`` .. ``h3_11`` for incidents.
Writers that go through the API or ``citybrain.ingest`` compute all of them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import h3
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

POINT_TABLES = ("teams", "cameras", "facilities", "incidents")
# Metres a point must move for its cell at this resolution to have certainly changed.
WIDEST = {r: round(3 * h3.average_hexagon_edge_length(r, unit="m"), 1) for r in range(5, 12)}
WIDEST_15 = 2.0

_INCIDENT_CHECKS = "\n".join(
    f"        IF NEW.h3_{r} = OLD.h3_{r} AND moved >= {m} THEN stale := stale || 'h3_{r} '; END IF;"
    for r, m in WIDEST.items()
)

GUARD = f"""
CREATE FUNCTION citybrain.refuse_stale_cells() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved float8 := ST_DistanceSphere(OLD.geom, NEW.geom);
    stale text := '';
BEGIN
    IF NEW.h3 = OLD.h3 AND moved >= {WIDEST_15} THEN
        stale := 'h3 ';
    END IF;
    IF TG_TABLE_NAME = 'incidents' THEN
{_INCIDENT_CHECKS}
    END IF;
    IF stale <> '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = format('%s %s moved %s m but kept its H3 cells (%s)', TG_TABLE_NAME,
                             OLD.id, round(moved::numeric, 1), rtrim(stale)),
            HINT = 'set the cells of the new position too (h3.latlng_to_cell), or write '
                   'through the API or citybrain.ingest, which compute them';
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(GUARD)
    for table in POINT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_stale_cells BEFORE UPDATE OF geom ON citybrain.{table} "
            "FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom)) "
            "EXECUTE FUNCTION citybrain.refuse_stale_cells()"
        )


def downgrade() -> None:
    for table in POINT_TABLES:
        op.execute(f"DROP TRIGGER {table}_stale_cells ON citybrain.{table}")
    op.execute("DROP FUNCTION citybrain.refuse_stale_cells()")
