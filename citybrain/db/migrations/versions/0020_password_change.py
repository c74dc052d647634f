"""A password set by an administrator is changed before anything else: a session's caller
(``citybrain.caller_of_session``) says whether its account must change its password.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from pathlib import Path

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0020_password_change.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("0020 follows 0019, which cannot be undone: restore a backup")
