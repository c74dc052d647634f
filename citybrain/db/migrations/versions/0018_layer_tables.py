"""A new map layer is a table and a file: ``citybrain.make_layer_table(table)`` gives a table
of schema citybrain what a layer's table needs (tile-version triggers, its GiST index, where
its rows came from, the grants), and imports are recorded for any layer, not a fixed list.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from pathlib import Path

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0018_layer_tables.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("""
DROP FUNCTION citybrain.make_layer_table(text);
ALTER TABLE citybrain.imports DROP CONSTRAINT ck_imports_layer;
ALTER TABLE citybrain.imports ADD CONSTRAINT ck_imports_layer CHECK (layer IN (
    'towns', 'villages', 'grids', 'compounds', 'micro_grids',
    'teams', 'cameras', 'facilities', 'incidents'));
""")
