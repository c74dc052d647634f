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

from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
POINT_TABLES = ("teams", "cameras", "facilities", "incidents")


def upgrade() -> None:
    # The guard and its triggers; the distances, once computed with h3, are literals there.
    op.execute((SQL / "0008_stale_cells_guard.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    for table in POINT_TABLES:
        op.execute(f"DROP TRIGGER {table}_stale_cells ON citybrain.{table}")
    op.execute("DROP FUNCTION citybrain.refuse_stale_cells()")
