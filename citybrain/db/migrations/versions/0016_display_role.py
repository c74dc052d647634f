"""Keys for public displays: role ``display`` sees what an anonymous caller sees, also where
anonymous reads are off (CITYBRAIN_ANONYMOUS_READS=false), so that a public hall's screen needs
no key that reads case files.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE citybrain.api_keys DROP CONSTRAINT ck_api_keys_role;
ALTER TABLE citybrain.api_keys ADD CONSTRAINT ck_api_keys_role
    CHECK (role IN ('display', 'viewer', 'dispatcher', 'admin'));
""")


def downgrade() -> None:
    op.execute("""
ALTER TABLE citybrain.api_keys DROP CONSTRAINT ck_api_keys_role;
ALTER TABLE citybrain.api_keys ADD CONSTRAINT ck_api_keys_role
    CHECK (role IN ('viewer', 'dispatcher', 'admin'));
""")
