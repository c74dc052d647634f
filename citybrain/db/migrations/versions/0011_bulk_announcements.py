"""Live map: incidents written many at a time are announced once, not row by row.

Migration 0005's row trigger announced every inserted or updated incident, so one bulk write by
any program (a ``to_postgis`` of a million rows, an UPDATE over a whole town) queued a million
notifications in PostgreSQL and sent each to every big screen, which drew them one by one. Now
statement triggers announce each row of a statement that wrote at most 50 rows (what the API
and dispatchers do; the same payload on ``citybrain_incidents`` as before) and otherwise
one summary on ``citybrain_incidents_bulk``: ``{"op", "count", "bbox"}``, on which screens
reload what they show. The bulk loader pauses the triggers and sends the summary itself when
its load is done (``citybrain.announce_incidents_bulk``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from pathlib import Path

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    # incident_public, announce_incidents_bulk, incidents_announce. The triggers are made here,
    # not in the file: 0012's downgrade applies the file again.
    op.execute((SQL / "0011_bulk_announcements.sql").read_text(encoding="utf-8"))
    op.execute("""
DROP TRIGGER incidents_notify ON citybrain.incidents;
DROP FUNCTION citybrain.incident_notify();
CREATE TRIGGER incidents_announce_insert AFTER INSERT ON citybrain.incidents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.incidents_announce();
CREATE TRIGGER incidents_announce_update AFTER UPDATE ON citybrain.incidents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.incidents_announce();
""")


def downgrade() -> None:
    op.execute("DROP TRIGGER incidents_announce_update ON citybrain.incidents")
    op.execute("DROP TRIGGER incidents_announce_insert ON citybrain.incidents")
    op.execute("DROP FUNCTION citybrain.incidents_announce()")
    op.execute("DROP FUNCTION citybrain.announce_incidents_bulk(text, bigint, box2d)")
    op.execute("DROP FUNCTION citybrain.incident_public(citybrain.incidents, text)")
    # 0005's row trigger back, from its frozen SQL file.
    op.execute((SQL / "0005_incident_notifications.sql").read_text(encoding="utf-8"))
