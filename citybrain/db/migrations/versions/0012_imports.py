"""Real data in: a log of imports, natural keys on every layer, where each row came from.

- ``imports``: one row per import run that wrote (source file name and SHA-256, options, who,
  when, and how many rows were inserted, updated, unchanged, rejected and repaired). Every layer
  row carries ``import_id``, the run that last inserted or changed it (NULL: made by citybrain -
  the synthetic county, the API).
- Natural keys: teams and facilities get a ``code`` (backfilled from their grid and id, as the
  synthetic county now makes them); incidents get ``external_id`` (a 12345 work-order number),
  unique where given.
- ``derived`` on the five polygon levels: the geometry was built by citybrain (villages drawn
  around their committees' locations), not surveyed; maps and cards say so.
- ``incidents.location_quality``: ``exact`` for a located point, or the level of the area
  whose representative point stands in for an address without coordinates.
- ``attributes`` (jsonb) on every layer: the source's columns that no citybrain column takes,
  kept as they were (never on a map layer: they may hold names and phone numbers).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

POLYGONS = ("towns", "villages", "grids", "compounds", "micro_grids")
POINTS = ("teams", "cameras", "facilities", "incidents")
LAYERS = (*POLYGONS, *POINTS)
QUALITIES = ("exact", "micro_grid", "compound", "grid", "village", "town")


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


UPGRADE = f"""
CREATE TABLE citybrain.imports (
    id serial PRIMARY KEY,
    layer text NOT NULL CONSTRAINT ck_imports_layer CHECK (layer IN ({_in(LAYERS)})),
    source_name text NOT NULL,
    source_sha256 text NOT NULL,
    options jsonb NOT NULL,
    actor text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    inserted integer NOT NULL,
    updated integer NOT NULL,
    unchanged integer NOT NULL,
    rejected integer NOT NULL,
    repaired integer NOT NULL
);

ALTER TABLE citybrain.teams ADD COLUMN code text;
UPDATE citybrain.teams t SET code = g.code || 'T' || n
FROM (SELECT t2.id, row_number() OVER (PARTITION BY t2.grid_id ORDER BY t2.id) n
      FROM citybrain.teams t2) k, citybrain.grids g
WHERE k.id = t.id AND g.id = t.grid_id;
ALTER TABLE citybrain.teams ALTER COLUMN code SET NOT NULL;
ALTER TABLE citybrain.teams ADD CONSTRAINT teams_code_key UNIQUE (code);

ALTER TABLE citybrain.facilities ADD COLUMN code text;
UPDATE citybrain.facilities SET code = 'F' || lpad(id::text, 5, '0');
ALTER TABLE citybrain.facilities ALTER COLUMN code SET NOT NULL;
ALTER TABLE citybrain.facilities ADD CONSTRAINT facilities_code_key UNIQUE (code);

-- A writer that gives no code (plain SQL, other programs) gets one: a facility F<id> as the
-- backfill above; a team <grid code>-T<id> (the backfill's <grid code>T<n> counts the grid's
-- teams, which a row-by-row default cannot do without racing; the id makes it unique).
CREATE FUNCTION citybrain.fill_code() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'teams' THEN
        NEW.code := (SELECT code FROM citybrain.grids WHERE id = NEW.grid_id) || '-T' || NEW.id;
    ELSE
        NEW.code := 'F' || lpad(NEW.id::text, 5, '0');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER teams_code BEFORE INSERT ON citybrain.teams
    FOR EACH ROW WHEN (NEW.code IS NULL) EXECUTE FUNCTION citybrain.fill_code();
CREATE TRIGGER facilities_code BEFORE INSERT ON citybrain.facilities
    FOR EACH ROW WHEN (NEW.code IS NULL) EXECUTE FUNCTION citybrain.fill_code();

ALTER TABLE citybrain.incidents ADD COLUMN external_id text;
ALTER TABLE citybrain.incidents ADD CONSTRAINT incidents_external_id_key UNIQUE (external_id);
ALTER TABLE citybrain.incidents
    ADD COLUMN location_quality text NOT NULL DEFAULT 'exact',
    ADD CONSTRAINT ck_incidents_location_quality CHECK (location_quality IN ({_in(QUALITIES)}));
"""
# The live map: an import announces itself once, when it is done; meanwhile its writes are
# quiet (``SET LOCAL citybrain.announce = off``, as ``cells_given`` tells the cell trigger).
ANNOUNCE = """
CREATE OR REPLACE FUNCTION citybrain.incidents_announce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF current_setting('citybrain.announce', true) = 'off' THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO n FROM new_rows;
    IF n = 0 THEN
        RETURN NULL;
    ELSIF n <= %(rows)s THEN
        PERFORM pg_notify('citybrain_incidents', citybrain.incident_public(r, lower(TG_OP)))
        FROM (SELECT * FROM new_rows ORDER BY id) r;
    ELSE
        PERFORM citybrain.announce_incidents_bulk(lower(TG_OP), n, ST_Extent(geom)::box2d)
        FROM new_rows;
    END IF;
    RETURN NULL;
END $$;
"""
ROWS_ANNOUNCED = 50  # as migration 0011
UPGRADE += ANNOUNCE % {"rows": ROWS_ANNOUNCED}

# The cell trigger is not even called for rows whose writer computed the cells (the bulk
# loader and imports say so with citybrain.cells_given): a PL/pgSQL call per row cost ~0.5 s
# of a million-row load.
CELLS = {
    "teams": "geom, h3",
    "cameras": "geom, h3",
    "facilities": "geom, h3",
    "incidents": "geom, h3, h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11",
}
for _table, _columns in CELLS.items():
    UPGRADE += f"""
DROP TRIGGER {_table}_cells ON citybrain.{_table};
CREATE TRIGGER {_table}_cells BEFORE INSERT OR UPDATE OF {_columns} ON citybrain.{_table}
    FOR EACH ROW WHEN (current_setting('citybrain.cells_given', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION citybrain.fill_cells();
"""
for _table in LAYERS:
    UPGRADE += f"""
ALTER TABLE citybrain.{_table}
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_{_table}_import_id ON citybrain.{_table} (import_id) WHERE import_id IS NOT NULL;
"""
for _table in POLYGONS:
    UPGRADE += f"""
ALTER TABLE citybrain.{_table} ADD COLUMN derived boolean NOT NULL DEFAULT false;
"""

DOWNGRADE = (
    "".join(
        f"DROP TRIGGER {t}_cells ON citybrain.{t};\n"
        f"CREATE TRIGGER {t}_cells BEFORE INSERT OR UPDATE OF {c} ON citybrain.{t} "
        "FOR EACH ROW EXECUTE FUNCTION citybrain.fill_cells();\n"
        for t, c in CELLS.items()
    )
    + "".join(
        f"ALTER TABLE citybrain.{t} DROP COLUMN import_id, DROP COLUMN attributes;\n"
        for t in LAYERS
    )
    + "".join(f"ALTER TABLE citybrain.{t} DROP COLUMN derived;\n" for t in POLYGONS)
    + """
ALTER TABLE citybrain.incidents DROP COLUMN location_quality, DROP COLUMN external_id;
DROP TRIGGER facilities_code ON citybrain.facilities;
DROP TRIGGER teams_code ON citybrain.teams;
DROP FUNCTION citybrain.fill_code();
ALTER TABLE citybrain.facilities DROP COLUMN code;
ALTER TABLE citybrain.teams DROP COLUMN code;
DROP TABLE citybrain.imports;
"""
    + ANNOUNCE.replace(
        "    IF current_setting('citybrain.announce', true) = 'off' THEN\n        RETURN NULL;\n    END IF;\n",
        "",
    )
    % {"rows": ROWS_ANNOUNCED}
)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
