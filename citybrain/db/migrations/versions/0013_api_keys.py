"""API keys managed by the service: ``citybrain keys create / list / revoke``.

Only a key's SHA-256 is stored (a key is 192 random bits: its hash cannot be reversed or
guessed); a key has a name, which the audit trail records instead of any part of the key, and
a role. Revoking stamps ``revoked_at``; servers see changes within a second, without a restart.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE citybrain.api_keys (
    id serial PRIMARY KEY,
    name text NOT NULL CONSTRAINT api_keys_name_key UNIQUE
        CONSTRAINT ck_api_keys_name CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    role text NOT NULL CONSTRAINT ck_api_keys_role CHECK (role IN ('viewer', 'dispatcher', 'admin')),
    key_hash bytea NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
""")


def downgrade() -> None:
    op.execute("DROP TABLE citybrain.api_keys")
