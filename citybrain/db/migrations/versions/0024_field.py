"""The grid member's phone: photos by their content's hash and the cases they show, patrols
with their points and track, and what a member's own steps (签收, 申请上报) leave on a case
(issue 33).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from pathlib import Path

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0024_field.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute(
        "DROP TABLE citybrain.patrol_points, citybrain.patrols, citybrain.incident_photos, "
        "citybrain.photos; ALTER TABLE citybrain.incidents DROP COLUMN accepted_at, "
        "DROP COLUMN escalation_asked"
    )
