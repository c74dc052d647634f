"""Time limits per category and step, on the clock or in working hours (``time_limits``,
``step_due``), and the working calendar they count on (``work_periods``, ``work_clock``,
``work_due``; written by ``citybrain db migrate`` from ``citybrain.db.workhours``).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from pathlib import Path

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0021_work_hours.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION citybrain.step_card(text, text, timestamptz, timestamptz, timestamptz);"
        "DROP FUNCTION citybrain.step_due(text, text, timestamptz);"
        "DROP FUNCTION citybrain.within_limit(timestamptz, timestamptz, integer, boolean, numeric);"
        "DROP FUNCTION citybrain.limit_due(timestamptz, integer, boolean, numeric);"
        "DROP TABLE citybrain.time_limits;"
        "DROP FUNCTION citybrain.work_due(timestamptz, interval);"
        "DROP FUNCTION citybrain.work_clock(timestamptz);"
        "DROP TABLE citybrain.work_periods;"
    )
