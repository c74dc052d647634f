"""Heatmaps: each incident's H3 cell at resolutions 5-11 (h3.latlng_to_cell, exact), per-day
and per-month incident counts per cell (res 5-9) and category kept exact by statement-level
triggers (one set-based upsert per statement, so a COPY of a million rows costs one GROUP BY),
and an index of the incidents not yet closed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from pathlib import Path

import h3.api.basic_int as h3i
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
RESOLUTIONS = range(5, 12)  # incidents.h3_<r>


def _backfill_cells() -> None:
    """Compute the new columns for incidents that are already there (H3 runs in Python)."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.incidents"))
    batch = []
    stmt = sa.text(
        "UPDATE citybrain.incidents SET "
        + ", ".join(f"h3_{r} = :h{r}" for r in RESOLUTIONS)
        + " WHERE id = :id"
    )
    for incident_id, lon, lat in rows.fetchall():
        batch.append(
            {"id": incident_id, **{f"h{r}": h3i.latlng_to_cell(lat, lon, r) for r in RESOLUTIONS}}
        )
        if len(batch) == 5000:
            conn.execute(stmt, batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)


def upgrade() -> None:
    for r in RESOLUTIONS:
        op.add_column("incidents", sa.Column(f"h3_{r}", sa.BigInteger()), schema="citybrain")
    _backfill_cells()
    for r in RESOLUTIONS:
        op.alter_column("incidents", f"h3_{r}", nullable=False, schema="citybrain")
        op.create_check_constraint(
            f"ck_incidents_h3_{r}_res",
            "incidents",
            f"(h3_{r} >> 52) & 15 = {r}",
            schema="citybrain",
        )
    create_pre_aggregates()


def create_pre_aggregates() -> None:
    """The tables, index and triggers, filled from the incidents."""
    for grain, column in (("day", "day"), ("month", "month")):
        op.create_table(
            f"incident_heat_{grain}",
            sa.Column("res", sa.SmallInteger(), nullable=False),
            sa.Column(column, sa.Date(), nullable=False),
            sa.Column("category", sa.Text(), nullable=False),
            sa.Column("cell", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("res", column, "category", "cell"),
            schema="citybrain",
        )
    op.create_index(
        "ix_incidents_live",
        "incidents",
        ["reported_at"],
        unique=False,
        schema="citybrain",
        postgresql_where="status <> 'closed'",
    )
    # The triggers (per-day and per-month counts of resolutions 5-9) and heat_rebuild.
    op.execute((SQL / "0003_heatmap_pre_aggregates.sql").read_text(encoding="utf-8"))
    op.execute("SELECT citybrain.heat_rebuild()")


def downgrade() -> None:
    for name in ("insert", "delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER incidents_heat_{name} ON citybrain.incidents")
        op.execute(f"DROP FUNCTION citybrain.heat_{name}()")
    op.execute("DROP FUNCTION citybrain.heat_rebuild()")
    op.drop_index("ix_incidents_live", table_name="incidents", schema="citybrain")
    op.drop_table("incident_heat_month", schema="citybrain")
    op.drop_table("incident_heat_day", schema="citybrain")
    for r in RESOLUTIONS:
        op.drop_column("incidents", f"h3_{r}", schema="citybrain")
