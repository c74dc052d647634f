"""Early warning: alerts, their audit trail, detector runs, and the synthetic county's ground
truth (outbreaks); the micro-grid → town chain as one view.

``alerts`` is a map table (tile versions counted by ``tiles_bump``, migration 0004) and tells
listeners of every new alert and every change a screen shows (``citybrain_alerts``). The server
role may raise and update alerts and append to ``alert_events``, which is append-only like the
incidents' audit trail (migration 0014).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from pathlib import Path

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
ROLE = "citybrain_server"


def upgrade() -> None:
    op.execute("""
CREATE VIEW citybrain.micro_grid_chain AS
SELECT m.id AS micro_grid_id, c.id AS compound_id, g.id AS grid_id, v.id AS village_id,
       v.town_id
FROM citybrain.micro_grids m
JOIN citybrain.compounds c ON c.id = m.compound_id
JOIN citybrain.grids g ON g.id = c.grid_id
JOIN citybrain.villages v ON v.id = g.village_id;

CREATE TABLE citybrain.alerts (
    id bigserial PRIMARY KEY,
    detector text NOT NULL,
    kind text NOT NULL CONSTRAINT ck_alerts_kind CHECK (kind IN ('scan', 'ears', 'rule')),
    category text,
    level text NOT NULL,
    area_codes text[] NOT NULL,
    area_name text NOT NULL,
    geom geometry(MultiPolygon, 4326) NOT NULL,
    summary text NOT NULL,
    observed integer NOT NULL,
    expected double precision,
    statistic double precision NOT NULL,
    p_value double precision,
    recurrence_days double precision,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    incident_ids bigint[] NOT NULL,
    active boolean NOT NULL DEFAULT true,
    status text NOT NULL DEFAULT 'new' CONSTRAINT ck_alerts_status
        CHECK (status IN ('new', 'acknowledged', 'dispatched', 'closed')),
    snoozed_until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_alerts_geom ON citybrain.alerts USING gist (geom);
CREATE INDEX ix_alerts_active ON citybrain.alerts (detector, category) WHERE active;
CREATE INDEX ix_alerts_updated ON citybrain.alerts (updated_at);

CREATE TABLE citybrain.alert_events (
    id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES citybrain.alerts (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    role text NOT NULL,
    action text NOT NULL,
    from_status text,
    to_status text,
    note text,
    snoozed_until timestamptz
);
CREATE INDEX ix_alert_events_alert ON citybrain.alert_events (alert_id, id);

CREATE TABLE citybrain.detector_runs (
    id bigserial PRIMARY KEY,
    detector text NOT NULL,
    started_at timestamptz NOT NULL,
    seconds double precision NOT NULL,
    found integer NOT NULL,
    raised integer NOT NULL
);
CREATE INDEX ix_detector_runs_detector ON citybrain.detector_runs (detector, started_at);

CREATE TABLE citybrain.outbreaks (
    id serial PRIMARY KEY,
    compound_code text NOT NULL,
    category text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    size integer NOT NULL,
    geom geometry(Point, 4326) NOT NULL,
    incident_ids bigint[] NOT NULL
);
""")
    # The triggers alerts_notify and alert_events_append_only, and their functions.
    op.execute((SQL / "0015_alerts.sql").read_text(encoding="utf-8"))
    for event, refs in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER alerts_tiles_{event.lower()} AFTER {event} ON citybrain.alerts "
            f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION citybrain.tiles_bump()"
        )
    op.execute(
        "CREATE TRIGGER alerts_tiles_truncate AFTER TRUNCATE ON citybrain.alerts "
        "FOR EACH STATEMENT EXECUTE FUNCTION citybrain.tiles_bump()"
    )
    op.execute(f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        GRANT SELECT ON citybrain.micro_grid_chain, citybrain.alerts, citybrain.alert_events,
            citybrain.detector_runs, citybrain.outbreaks TO {ROLE};
        GRANT INSERT, UPDATE ON citybrain.alerts TO {ROLE};
        GRANT INSERT ON citybrain.alert_events, citybrain.detector_runs TO {ROLE};
        GRANT USAGE ON SEQUENCE citybrain.alerts_id_seq, citybrain.alert_events_id_seq,
            citybrain.detector_runs_id_seq TO {ROLE};
    END IF;
END
$$;
""")


def downgrade() -> None:
    op.execute("""
DROP TABLE citybrain.outbreaks;
DROP TABLE citybrain.detector_runs;
DROP TABLE citybrain.alert_events;
DROP TABLE citybrain.alerts;
DROP FUNCTION citybrain.alert_audit_append_only();
DROP FUNCTION citybrain.alert_notify();
DROP VIEW citybrain.micro_grid_chain;
""")
