"""Heatmaps from an in-memory index of the incidents instead of pre-aggregate tables: each
incident records the transaction that last changed what a heatmap reads (``changed``, xid8),
deletions are kept in ``incident_deletions``, and a truncate bumps
``meta.incidents_generation``; a server process asks for exactly what changed since it last
looked (services/heatmap/index.py). The per-day and per-month tables of 0003 and their triggers
go: nothing reads them any more.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    for name in ("insert", "delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER incidents_heat_{name} ON citybrain.incidents")
        op.execute(f"DROP FUNCTION citybrain.heat_{name}()")
    op.execute("DROP FUNCTION citybrain.heat_rebuild()")
    op.drop_table("incident_heat_month", schema="citybrain")
    op.drop_table("incident_heat_day", schema="citybrain")
    op.drop_index("ix_incidents_live", table_name="incidents", schema="citybrain")

    # xid8 (PostgreSQL 13+): a transaction id that never wraps, ordered like the transactions
    # began; the column default stamps every insert, a trigger every update that matters.
    op.execute(
        "ALTER TABLE citybrain.incidents "
        "ADD COLUMN changed xid8 NOT NULL DEFAULT pg_current_xact_id()"
    )
    op.create_index("ix_incidents_changed", "incidents", ["changed"], schema="citybrain")
    op.execute(
        "CREATE TABLE citybrain.incident_deletions ("
        "xid xid8 NOT NULL DEFAULT pg_current_xact_id(), id bigint NOT NULL, "
        "CONSTRAINT incident_deletions_pkey PRIMARY KEY (xid, id))"
    )
    op.execute((SQL / "0007_incident_changes.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    for name in ("changed", "deleted", "truncated"):
        op.execute(f"DROP TRIGGER incidents_{name} ON citybrain.incidents")
        op.execute(f"DROP FUNCTION citybrain.incident_{name}()")
    op.drop_table("incident_deletions", schema="citybrain")
    op.drop_index("ix_incidents_changed", table_name="incidents", schema="citybrain")
    op.drop_column("incidents", "changed", schema="citybrain")
    op.execute("DELETE FROM citybrain.meta WHERE key = 'incidents_generation'")
    # 0003's tables and index, its triggers from its frozen SQL file, filled from the incidents.
    for grain in ("day", "month"):
        op.create_table(
            f"incident_heat_{grain}",
            sa.Column("res", sa.SmallInteger(), nullable=False),
            sa.Column(grain, sa.Date(), nullable=False),
            sa.Column("category", sa.Text(), nullable=False),
            sa.Column("cell", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("res", grain, "category", "cell"),
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
    op.execute((SQL / "0003_heatmap_pre_aggregates.sql").read_text(encoding="utf-8"))
    op.execute("SELECT citybrain.heat_rebuild()")
