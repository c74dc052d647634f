-- Migration 0012: the import log, natural keys on every layer, where each row came from.

CREATE TABLE citybrain.imports (
    id serial PRIMARY KEY,
    layer text NOT NULL CONSTRAINT ck_imports_layer CHECK (layer IN (
        'towns', 'villages', 'grids', 'compounds', 'micro_grids',
        'teams', 'cameras', 'facilities', 'incidents')),
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
    ADD CONSTRAINT ck_incidents_location_quality CHECK (location_quality IN (
        'exact', 'micro_grid', 'compound', 'grid', 'village', 'town'));

-- The live map: an import announces itself once, when it is done; meanwhile its writes are
-- quiet (SET LOCAL citybrain.announce = off, as cells_given tells the cell trigger).
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
    ELSIF n <= 50 THEN
        PERFORM pg_notify('citybrain_incidents', citybrain.incident_public(r, lower(TG_OP)))
        FROM (SELECT * FROM new_rows ORDER BY id) r;
    ELSE
        PERFORM citybrain.announce_incidents_bulk(lower(TG_OP), n, ST_Extent(geom)::box2d)
        FROM new_rows;
    END IF;
    RETURN NULL;
END $$;

-- The cell trigger is not even called for rows whose writer computed the cells (the bulk
-- loader and imports say so with citybrain.cells_given): a PL/pgSQL call per row cost ~0.5 s
-- of a million-row load.
DROP TRIGGER teams_cells ON citybrain.teams;
CREATE TRIGGER teams_cells BEFORE INSERT OR UPDATE OF geom, h3 ON citybrain.teams
    FOR EACH ROW WHEN (current_setting('citybrain.cells_given', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION citybrain.fill_cells();

DROP TRIGGER cameras_cells ON citybrain.cameras;
CREATE TRIGGER cameras_cells BEFORE INSERT OR UPDATE OF geom, h3 ON citybrain.cameras
    FOR EACH ROW WHEN (current_setting('citybrain.cells_given', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION citybrain.fill_cells();

DROP TRIGGER facilities_cells ON citybrain.facilities;
CREATE TRIGGER facilities_cells BEFORE INSERT OR UPDATE OF geom, h3 ON citybrain.facilities
    FOR EACH ROW WHEN (current_setting('citybrain.cells_given', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION citybrain.fill_cells();

DROP TRIGGER incidents_cells ON citybrain.incidents;
CREATE TRIGGER incidents_cells
    BEFORE INSERT OR UPDATE OF geom, h3, h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11
    ON citybrain.incidents
    FOR EACH ROW WHEN (current_setting('citybrain.cells_given', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION citybrain.fill_cells();

ALTER TABLE citybrain.towns
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_towns_import_id ON citybrain.towns (import_id) WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.villages
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_villages_import_id ON citybrain.villages (import_id) WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.grids
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_grids_import_id ON citybrain.grids (import_id) WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.compounds
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_compounds_import_id ON citybrain.compounds (import_id) WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.micro_grids
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_micro_grids_import_id ON citybrain.micro_grids (import_id)
    WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.teams
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_teams_import_id ON citybrain.teams (import_id) WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.cameras
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_cameras_import_id ON citybrain.cameras (import_id) WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.facilities
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_facilities_import_id ON citybrain.facilities (import_id)
    WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.incidents
    ADD COLUMN import_id integer REFERENCES citybrain.imports (id),
    ADD COLUMN attributes jsonb;
CREATE INDEX ix_incidents_import_id ON citybrain.incidents (import_id) WHERE import_id IS NOT NULL;

ALTER TABLE citybrain.towns ADD COLUMN derived boolean NOT NULL DEFAULT false;

ALTER TABLE citybrain.villages ADD COLUMN derived boolean NOT NULL DEFAULT false;

ALTER TABLE citybrain.grids ADD COLUMN derived boolean NOT NULL DEFAULT false;

ALTER TABLE citybrain.compounds ADD COLUMN derived boolean NOT NULL DEFAULT false;

ALTER TABLE citybrain.micro_grids ADD COLUMN derived boolean NOT NULL DEFAULT false;
