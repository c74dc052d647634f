"""Keys of role ``intake``: an outside channel (a citizens' app through Open311, the hotline's
system) that reports incidents and reads no case file (in the database it acts as ``intake``,
which ``caller_sees_case`` gives nothing).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE citybrain.api_keys DROP CONSTRAINT ck_api_keys_role;
ALTER TABLE citybrain.api_keys ADD CONSTRAINT ck_api_keys_role
    CHECK (role IN ('display', 'viewer', 'dispatcher', 'admin', 'intake'));
""")


def downgrade() -> None:
    op.execute("""
DELETE FROM citybrain.api_keys WHERE role = 'intake';
ALTER TABLE citybrain.api_keys DROP CONSTRAINT ck_api_keys_role;
ALTER TABLE citybrain.api_keys ADD CONSTRAINT ck_api_keys_role
    CHECK (role IN ('display', 'viewer', 'dispatcher', 'admin'));
""")
