"""Live map: every insert or update of an incident is announced on the channel
``citybrain_incidents`` (at commit, to every listening server process) with its public fields.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from pathlib import Path

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0005_incident_notifications.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("DROP TRIGGER incidents_notify ON citybrain.incidents")
    op.execute("DROP FUNCTION citybrain.incident_notify()")
