"""Live map: incidents written many at a time are announced once, not row by row.

Migration 0005's row trigger announced every inserted or updated incident, so one bulk write by
any program (a ``to_postgis`` of a million rows, an UPDATE over a whole town) queued a million
notifications in PostgreSQL and sent each to every big screen, which drew them one by one. Now
statement triggers announce each row of a statement that wrote at most ``ROWS_ANNOUNCED`` (what
the API and dispatchers do; the same payload on ``citybrain_incidents`` as before) and otherwise
one summary on ``citybrain_incidents_bulk``: ``{"op", "count", "bbox"}``, on which screens
reload what they show. The bulk loader pauses the triggers and sends the summary itself when
its load is done (``citybrain.announce_incidents_bulk``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from alembic import op

from citybrain.db.migrate import migration

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ROWS_ANNOUNCED = 50

ANNOUNCE = f"""
-- The public fields of an incident (never the reporter's name or phone).
CREATE FUNCTION citybrain.incident_public(i citybrain.incidents, op text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'op', op, 'id', i.id, 'category', i.category, 'status', i.status,
        'tier', i.tier, 'severity', i.severity, 'team_id', i.team_id,
        'reported_at', i.reported_at, 'updated_at', i.updated_at,
        'micro_grid_id', i.micro_grid_id,
        'lon', round(ST_X(i.geom)::numeric, 7), 'lat', round(ST_Y(i.geom)::numeric, 7)
    )::text
$$;

CREATE FUNCTION citybrain.announce_incidents_bulk(op text, n bigint, extent box2d)
RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('citybrain_incidents_bulk', json_build_object(
        'op', op, 'count', n,
        'bbox', json_build_array(
            round(ST_XMin(extent)::numeric, 6), round(ST_YMin(extent)::numeric, 6),
            round(ST_XMax(extent)::numeric, 6), round(ST_YMax(extent)::numeric, 6))
    )::text)
$$;

CREATE FUNCTION citybrain.incidents_announce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM new_rows;
    IF n = 0 THEN
        RETURN NULL;
    ELSIF n <= {ROWS_ANNOUNCED} THEN
        PERFORM pg_notify('citybrain_incidents', citybrain.incident_public(r, lower(TG_OP)))
        FROM (SELECT * FROM new_rows ORDER BY id) r;
    ELSE
        PERFORM citybrain.announce_incidents_bulk(lower(TG_OP), n, ST_Extent(geom)::box2d)
        FROM new_rows;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER incidents_notify ON citybrain.incidents;
DROP FUNCTION citybrain.incident_notify();
CREATE TRIGGER incidents_announce_insert AFTER INSERT ON citybrain.incidents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.incidents_announce();
CREATE TRIGGER incidents_announce_update AFTER UPDATE ON citybrain.incidents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.incidents_announce();
"""


def upgrade() -> None:
    op.execute(ANNOUNCE)


def downgrade() -> None:
    op.execute("DROP TRIGGER incidents_announce_update ON citybrain.incidents")
    op.execute("DROP TRIGGER incidents_announce_insert ON citybrain.incidents")
    op.execute("DROP FUNCTION citybrain.incidents_announce()")
    op.execute("DROP FUNCTION citybrain.announce_incidents_bulk(text, bigint, box2d)")
    op.execute("DROP FUNCTION citybrain.incident_public(citybrain.incidents, text)")
    migration("0005_incident_notifications.py").upgrade()
