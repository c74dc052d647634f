"""Tile versions: every write to a table that map layers draw counts into the tiles its
geometry touches, in the same transaction, whoever writes; tile caches compare versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
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
    # tiles_touched (zooms 0-22, at most 16 tiles a zoom), tiles_bump, tiles_bump_table. The
    # triggers are made here, not in the file: 0009's downgrade applies the file again.
    op.execute((SQL / "0004_tile_versions.sql").read_text(encoding="utf-8"))
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
