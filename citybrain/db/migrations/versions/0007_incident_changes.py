"""Heatmaps from an in-memory index of the incidents instead of pre-aggregate tables: each
incident records the transaction that last changed what a heatmap reads (``changed``, xid8),
deletions are kept in ``incident_deletions``, and a truncate bumps
``meta.incidents_generation``; a server process asks for exactly what changed since it last
looked (services/heatindex.py). The per-day and per-month tables of 0003 and their triggers
go: nothing reads them any more.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from alembic import op

from citybrain.db.migrate import migration

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WATCHED = ("reported_at", "category", "status", *(f"h3_{r}" for r in range(5, 12)))

FUNCTIONS = f"""
CREATE FUNCTION citybrain.incident_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed := pg_current_xact_id();
    RETURN NEW;
END $$;

-- Inserts take the column's default; an update stamps the row when a watched column changes.
CREATE TRIGGER incidents_changed BEFORE UPDATE ON citybrain.incidents FOR EACH ROW
    WHEN (({", ".join("OLD." + c for c in WATCHED)})
          IS DISTINCT FROM ({", ".join("NEW." + c for c in WATCHED)}))
    EXECUTE FUNCTION citybrain.incident_changed();

CREATE FUNCTION citybrain.incident_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO citybrain.incident_deletions (id) SELECT id FROM old_rows;
    RETURN NULL;
END $$;

CREATE TRIGGER incidents_deleted AFTER DELETE ON citybrain.incidents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION citybrain.incident_deleted();

CREATE FUNCTION citybrain.incident_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE citybrain.incident_deletions;
    INSERT INTO citybrain.meta AS m (key, value) VALUES ('incidents_generation', '1')
    ON CONFLICT (key) DO UPDATE SET value = (m.value::bigint + 1)::text;
    RETURN NULL;
END $$;

CREATE TRIGGER incidents_truncated AFTER TRUNCATE ON citybrain.incidents
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.incident_truncated();
"""


def upgrade() -> None:
    for name in ("insert", "delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER incidents_heat_{name} ON citybrain.incidents")
        op.execute(f"DROP FUNCTION citybrain.heat_{name}()")
    op.execute("DROP FUNCTION citybrain.heat_rebuild()")
    op.drop_table("incident_heat_month", schema="citybrain")
    op.drop_table("incident_heat_day", schema="citybrain")
    op.drop_index("ix_incidents_live", table_name="incidents", schema="citybrain")

    # xid8 (PostgreSQL 13+): a transaction id that never wraps, ordered like the transactions
    # began; the column default stamps every insert, a trigger every update that matters.
    op.execute(
        "ALTER TABLE citybrain.incidents "
        "ADD COLUMN changed xid8 NOT NULL DEFAULT pg_current_xact_id()"
    )
    op.create_index("ix_incidents_changed", "incidents", ["changed"], schema="citybrain")
    op.execute(
        "CREATE TABLE citybrain.incident_deletions ("
        "xid xid8 NOT NULL DEFAULT pg_current_xact_id(), id bigint NOT NULL, "
        "CONSTRAINT incident_deletions_pkey PRIMARY KEY (xid, id))"
    )
    op.execute(FUNCTIONS)


def downgrade() -> None:
    for name in ("changed", "deleted", "truncated"):
        op.execute(f"DROP TRIGGER incidents_{name} ON citybrain.incidents")
        op.execute(f"DROP FUNCTION citybrain.incident_{name}()")
    op.drop_table("incident_deletions", schema="citybrain")
    op.drop_index("ix_incidents_changed", table_name="incidents", schema="citybrain")
    op.drop_column("incidents", "changed", schema="citybrain")
    op.execute("DELETE FROM citybrain.meta WHERE key = 'incidents_generation'")
    migration("0003_heatmap_pre_aggregates.py").create_pre_aggregates()
