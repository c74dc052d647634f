"""Imports through the API without the owner: ``citybrain_importer`` may write the layers an
import writes (and what their triggers derive), append to the audit trail, and read the rest;
it owns nothing, so it cannot change the schema, and it cannot touch API keys or alerts.

The embedded cluster's server logs in for ``POST /imports`` as a login of this role
(``citybrain_import``, made by ``citybrain db migrate``), so that the process serving the API
never holds the password of a superuser or of the schema's owner. Such imports load row by row:
bulk mode (dropping and rebuilding indexes) is the owner's, on the command line.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ROLE = "citybrain_importer"
WRITES = (
    "towns, villages, grids, compounds, micro_grids, teams, cameras, facilities, incidents, "
    "roads, road_vertices, imports, meta, h3_coverage, tile_versions, incident_deletions"
)


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
GRANT USAGE ON SCHEMA citybrain TO {ROLE};
GRANT SELECT ON ALL TABLES IN SCHEMA citybrain TO {ROLE};
REVOKE ALL ON citybrain.api_keys FROM {ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join("citybrain." + t for t in WRITES.split(", "))}
    TO {ROLE};
GRANT INSERT ON citybrain.incident_events TO {ROLE};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA citybrain TO {ROLE};
""")


def downgrade() -> None:
    op.execute(f"""
REVOKE ALL ON ALL TABLES IN SCHEMA citybrain FROM {ROLE};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA citybrain FROM {ROLE};
REVOKE ALL ON SCHEMA citybrain FROM {ROLE};
""")
