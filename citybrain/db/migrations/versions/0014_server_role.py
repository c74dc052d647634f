"""Least privilege: the server's requests run as ``citybrain_server``, a role that owns
nothing; the audit trail is append-only.

``citybrain_server`` (NOLOGIN; the server's pool connections ``SET ROLE`` to it, see
``CITYBRAIN_SERVER_ROLE``) may read the schema and write only what a request writes: report
and move incidents, append to their audit trail, claim idempotency keys, move teams. It may
not change the schema, delete or truncate anything, or edit the audit trail. Migrations,
imports, seeding and ``citybrain keys`` run as the owner.

``incident_events`` is append-only for everyone, the owner included: a trigger refuses every
UPDATE, and every DELETE but the one that goes with its incident's own deletion (a foreign
key's cascade: an owner's act, never the server's).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from pathlib import Path

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
ROLE = "citybrain_server"


def upgrade() -> None:
    op.execute(f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN;
    END IF;
END
$$;
GRANT {ROLE} TO CURRENT_USER;
REVOKE ALL ON SCHEMA citybrain FROM {ROLE};
GRANT USAGE ON SCHEMA citybrain TO {ROLE};
REVOKE ALL ON ALL TABLES IN SCHEMA citybrain FROM {ROLE};
GRANT SELECT ON ALL TABLES IN SCHEMA citybrain TO {ROLE};
GRANT INSERT, UPDATE ON citybrain.incidents, citybrain.idempotency_keys TO {ROLE};
GRANT INSERT ON citybrain.incident_events TO {ROLE};
GRANT UPDATE ON citybrain.teams TO {ROLE};
GRANT INSERT, UPDATE ON citybrain.tile_versions TO {ROLE};
GRANT USAGE ON SEQUENCE citybrain.incidents_id_seq, citybrain.incident_events_id_seq TO {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA citybrain GRANT SELECT ON TABLES TO {ROLE};
""")
    # incident_events append-only: the function and its trigger.
    op.execute((SQL / "0014_server_role.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute(f"""
DROP TRIGGER incident_events_append_only ON citybrain.incident_events;
DROP FUNCTION citybrain.audit_append_only();
ALTER DEFAULT PRIVILEGES IN SCHEMA citybrain REVOKE SELECT ON TABLES FROM {ROLE};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA citybrain FROM {ROLE};
REVOKE ALL ON ALL TABLES IN SCHEMA citybrain FROM {ROLE};
REVOKE ALL ON SCHEMA citybrain FROM {ROLE};
""")
