"""Heatmaps: each incident's H3 cell at resolutions 5-11 (h3.latlng_to_cell, exact), per-day
and per-month incident counts per cell (res 5-9) and category kept exact by statement-level
triggers (one set-based upsert per statement, so a COPY of a million rows costs one GROUP BY),
and an index of the incidents not yet closed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import h3.api.basic_int as h3i
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RESOLUTIONS = range(5, 12)  # incidents.h3_<r>
AGGREGATED = range(5, 10)  # counted per day and month; finer ones are read raw
_CELLS = ", ".join(f"({r}, r.h3_{r})" for r in AGGREGATED)

# {rows}: a relation of incident rows (a transition table or a subquery); {sign}: +1 or -1.
# Day and month buckets are UTC; one row per (resolution, bucket, category, cell), and one per
# (resolution, bucket, cell) for all categories together, with category '*' (what an
# unfiltered heatmap reads: a third of the rows).
_DAY = "(r.reported_at AT TIME ZONE 'UTC')::date"
_MONTH = "date_trunc('month', r.reported_at AT TIME ZONE 'UTC')::date"
_GROUPED = """
    SELECT v.res, {bucket} AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, {sign} * count(*)
    FROM {rows} r CROSS JOIN LATERAL (VALUES {cells}) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))"""
_UPSERT = f"""
    INSERT INTO citybrain.incident_heat_day AS h (res, day, category, cell, n)
    {_GROUPED.format(bucket=_DAY, cells=_CELLS, sign="{sign}", rows="{rows}")}
    ON CONFLICT (res, day, category, cell) DO UPDATE SET n = h.n + excluded.n;
    INSERT INTO citybrain.incident_heat_month AS h (res, month, category, cell, n)
    {_GROUPED.format(bucket=_MONTH, cells=_CELLS, sign="{sign}", rows="{rows}")}
    ON CONFLICT (res, month, category, cell) DO UPDATE SET n = h.n + excluded.n;
"""
_PRUNE = f"""
    DELETE FROM citybrain.incident_heat_day h
    USING {{rows}} r CROSS JOIN LATERAL (VALUES {_CELLS}) v(res, cell)
    WHERE h.n = 0 AND h.res = v.res AND h.day = {_DAY}
      AND h.category IN (r.category, '*') AND h.cell = v.cell;
    DELETE FROM citybrain.incident_heat_month h
    USING {{rows}} r CROSS JOIN LATERAL (VALUES {_CELLS}) v(res, cell)
    WHERE h.n = 0 AND h.res = v.res AND h.month = {_MONTH}
      AND h.category IN (r.category, '*') AND h.cell = v.cell;
"""
_KEY = "reported_at, category, " + ", ".join(f"h3_{r}" for r in AGGREGATED)
# Rows of an UPDATE whose time, category or place changed move between buckets.
_MOVED = f"""(SELECT {{side}}.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE ({", ".join("o." + k.strip() for k in _KEY.split(","))})
          IS DISTINCT FROM ({", ".join("n." + k.strip() for k in _KEY.split(","))}))"""

TRIGGERS = f"""
CREATE FUNCTION citybrain.heat_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_UPSERT.format(rows="new_rows", sign="1")}
    RETURN NULL;
END $$;

CREATE FUNCTION citybrain.heat_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_UPSERT.format(rows="old_rows", sign="-1")}
{_PRUNE.format(rows="old_rows")}
    RETURN NULL;
END $$;

CREATE FUNCTION citybrain.heat_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS {_MOVED.format(side="o")} THEN
{_UPSERT.format(rows=_MOVED.format(side="o"), sign="-1")}
{_UPSERT.format(rows=_MOVED.format(side="n"), sign="1")}
{_PRUNE.format(rows=_MOVED.format(side="o"))}
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION citybrain.heat_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE citybrain.incident_heat_day, citybrain.incident_heat_month;
    RETURN NULL;
END $$;

-- From scratch, for bulk loads (which disable the insert trigger): set-based, with the keys
-- built once at the end, and months summed from days. Several times faster than the trigger
-- on a million rows.
CREATE FUNCTION citybrain.heat_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL work_mem = '256MB';
    TRUNCATE citybrain.incident_heat_day, citybrain.incident_heat_month;
    ALTER TABLE citybrain.incident_heat_day DROP CONSTRAINT incident_heat_day_pkey;
    ALTER TABLE citybrain.incident_heat_month DROP CONSTRAINT incident_heat_month_pkey;
    INSERT INTO citybrain.incident_heat_day (res, day, category, cell, n)
    {_GROUPED.format(bucket=_DAY, cells=_CELLS, sign="1", rows="citybrain.incidents")};
    INSERT INTO citybrain.incident_heat_month (res, month, category, cell, n)
    SELECT res, date_trunc('month', day)::date, category, cell, sum(n)
    FROM citybrain.incident_heat_day GROUP BY 1, 2, 3, 4;
    ALTER TABLE citybrain.incident_heat_day
        ADD CONSTRAINT incident_heat_day_pkey PRIMARY KEY (res, day, category, cell);
    ALTER TABLE citybrain.incident_heat_month
        ADD CONSTRAINT incident_heat_month_pkey PRIMARY KEY (res, month, category, cell);
END $$;

CREATE TRIGGER incidents_heat_insert AFTER INSERT ON citybrain.incidents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_insert();
CREATE TRIGGER incidents_heat_delete AFTER DELETE ON citybrain.incidents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_delete();
CREATE TRIGGER incidents_heat_update AFTER UPDATE ON citybrain.incidents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_update();
CREATE TRIGGER incidents_heat_truncate AFTER TRUNCATE ON citybrain.incidents
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_truncate();
"""


def _backfill_cells() -> None:
    """Compute the new columns for incidents that are already there (H3 runs in Python)."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.incidents"))
    batch = []
    stmt = sa.text(
        "UPDATE citybrain.incidents SET "
        + ", ".join(f"h3_{r} = :h{r}" for r in RESOLUTIONS)
        + " WHERE id = :id"
    )
    for incident_id, lon, lat in rows.fetchall():
        batch.append(
            {"id": incident_id, **{f"h{r}": h3i.latlng_to_cell(lat, lon, r) for r in RESOLUTIONS}}
        )
        if len(batch) == 5000:
            conn.execute(stmt, batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)


def upgrade() -> None:
    for r in RESOLUTIONS:
        op.add_column("incidents", sa.Column(f"h3_{r}", sa.BigInteger()), schema="citybrain")
    _backfill_cells()
    for r in RESOLUTIONS:
        op.alter_column("incidents", f"h3_{r}", nullable=False, schema="citybrain")
        op.create_check_constraint(
            f"ck_incidents_h3_{r}_res",
            "incidents",
            f"(h3_{r} >> 52) & 15 = {r}",
            schema="citybrain",
        )
    create_pre_aggregates()


def create_pre_aggregates() -> None:
    """The tables, index and triggers, filled from the incidents (also 0007's downgrade)."""
    for grain, column in (("day", "day"), ("month", "month")):
        op.create_table(
            f"incident_heat_{grain}",
            sa.Column("res", sa.SmallInteger(), nullable=False),
            sa.Column(column, sa.Date(), nullable=False),
            sa.Column("category", sa.Text(), nullable=False),
            sa.Column("cell", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("res", column, "category", "cell"),
            schema="citybrain",
        )
    op.create_index(
        "ix_incidents_live",
        "incidents",
        ["reported_at"],
        unique=False,
        schema="citybrain",
        postgresql_where="status <> 'closed'",
    )
    op.execute(TRIGGERS)
    op.execute("SELECT citybrain.heat_rebuild()")


def downgrade() -> None:
    for name in ("insert", "delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER incidents_heat_{name} ON citybrain.incidents")
        op.execute(f"DROP FUNCTION citybrain.heat_{name}()")
    op.execute("DROP FUNCTION citybrain.heat_rebuild()")
    op.drop_index("ix_incidents_live", table_name="incidents", schema="citybrain")
    op.drop_table("incident_heat_month", schema="citybrain")
    op.drop_table("incident_heat_day", schema="citybrain")
    for r in RESOLUTIONS:
        op.drop_column("incidents", f"h3_{r}", schema="citybrain")
