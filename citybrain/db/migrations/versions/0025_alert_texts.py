"""Alerts in two languages: the summary in Chinese (the screen's) and in English beside it
(issue 34).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08
"""

from pathlib import Path

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0025_alert_texts.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("ALTER TABLE citybrain.alerts DROP COLUMN summary_en")
