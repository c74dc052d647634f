"""One definition of a team's load: the incidents it holds now (dispatched or on site), which
assignment checks against its capacity and every team view shows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0006_team_load_function.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("DROP FUNCTION citybrain.team_active(integer)")
