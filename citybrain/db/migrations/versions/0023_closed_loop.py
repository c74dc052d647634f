"""The closed loop: departments and their staff as responders beside grid teams, the declared
workflow's new states (registered, checked, rejected, merged) and what its steps leave on a case
(who holds it, extensions, supervision, satisfaction, duplicates and repeats); handlers see
their department's cases, members their grid's (issue 32).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from pathlib import Path

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0023_closed_loop.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError(
        "0023 is not reversible: cases registered, checked, rejected or merged, and the cases "
        "departments hold, have no place in the schema before it"
    )
