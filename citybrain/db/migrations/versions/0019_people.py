"""People, not keys: accounts (``users``) with a role and an area, their sessions, failed
logins, API keys with an area; an incident's case file (``case_files``: description,
reporter, attachments to come) apart from its public facts, which stay in ``incidents``; who
may read a case file, its audit trail and an account decided by row-level security on the
caller the server names per transaction (``citybrain.role``, ``citybrain.area_level`` ...);
and the append-only log of reads of unmasked personal data (``access_log``).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from pathlib import Path

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    op.execute((SQL / "0019_people.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("0019 moves case files out of incidents: restore a backup instead")
