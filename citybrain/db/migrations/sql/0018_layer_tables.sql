-- Migration 0018: citybrain.make_layer_table(table), what makes a table of schema citybrain a
-- map layer's table, so that a county's migration for a new layer is
--     CREATE TABLE citybrain.<t> (id serial PRIMARY KEY, code text NOT NULL UNIQUE, ...,
--                                 geom geometry(Point, 4326) NOT NULL);
--     SELECT citybrain.make_layer_table('<t>');
-- and a layer file in layers/ (docs/architecture.md). Idempotent: it may be run again.
--
-- It adds where each row came from (import_id, attributes: migration 0012) if the table lacks
-- them, the GiST index tiles and OGC queries go through, the statement triggers that count
-- every write into tile_versions (migration 0004: a tile cache is never stale), and the
-- grants: the server's request role reads (as 0014's default privileges give it for tables the
-- owner creates, whoever created this one), the import role writes (as 0017 for the others).
CREATE OR REPLACE FUNCTION citybrain.make_layer_table(tbl text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass := to_regclass(format('citybrain.%I', tbl));
    seq text;
    event text;
    refs text;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'make_layer_table: there is no table citybrain.%', quote_ident(tbl);
    END IF;
    IF NOT EXISTS (
        SELECT FROM geometry_columns WHERE f_table_schema = 'citybrain' AND f_table_name = tbl
        AND f_geometry_column = 'geom' AND srid = 4326
    ) THEN
        RAISE EXCEPTION 'make_layer_table: citybrain.% needs a column geom of SRID 4326',
            quote_ident(tbl);
    END IF;
    EXECUTE format(
        'ALTER TABLE citybrain.%I ADD COLUMN IF NOT EXISTS import_id integer '
        'REFERENCES citybrain.imports (id), ADD COLUMN IF NOT EXISTS attributes jsonb', tbl);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON citybrain.%I USING gist (geom)',
                   'ix_' || tbl || '_geom', tbl);
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON citybrain.%I (import_id) WHERE import_id IS NOT NULL',
        'ix_' || tbl || '_import_id', tbl);
    FOR event, refs IN VALUES ('INSERT', 'NEW TABLE AS new_rows'),
                              ('DELETE', 'OLD TABLE AS old_rows'),
                              ('UPDATE', 'OLD TABLE AS old_rows NEW TABLE AS new_rows') LOOP
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER %I AFTER %s ON citybrain.%I REFERENCING %s '
            'FOR EACH STATEMENT EXECUTE FUNCTION citybrain.tiles_bump()',
            tbl || '_tiles_' || lower(event), event, tbl, refs);
    END LOOP;
    EXECUTE format(
        'CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON citybrain.%I '
        'FOR EACH STATEMENT EXECUTE FUNCTION citybrain.tiles_bump()', tbl || '_tiles_truncate', tbl);
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'citybrain_server') THEN
        EXECUTE format('GRANT SELECT ON citybrain.%I TO citybrain_server', tbl);
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'citybrain_importer') THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON citybrain.%I TO citybrain_importer',
                       tbl);
        seq := pg_get_serial_sequence(format('citybrain.%I', tbl), 'id');
        IF seq IS NOT NULL THEN
            EXECUTE format('GRANT USAGE, SELECT, UPDATE ON SEQUENCE %s TO citybrain_importer', seq);
        END IF;
    END IF;
    -- Rows it held before: every tile of the table changes version once.
    PERFORM citybrain.tiles_bump_table(tbl);
END $$;
-- The schema's owner runs it in a migration; no request role has a reason to.
REVOKE EXECUTE ON FUNCTION citybrain.make_layer_table(text) FROM PUBLIC;

-- Imports are recorded for any layer a layer file declares, not a fixed list.
ALTER TABLE citybrain.imports DROP CONSTRAINT ck_imports_layer;
ALTER TABLE citybrain.imports ADD CONSTRAINT ck_imports_layer CHECK (layer ~ '^[a-z][a-z0-9_]*$');
