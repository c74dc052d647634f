-- Migration 0008: a point moved without its H3 cells is refused. The distances are three
-- average hexagon edge lengths at each resolution, in metres rounded to 0.1
-- (h3.average_hexagon_edge_length of h3 4.x), frozen here. Migration 0010 replaces this
-- guard and its downgrade applies this file again.

CREATE FUNCTION citybrain.refuse_stale_cells() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved float8 := ST_DistanceSphere(OLD.geom, NEW.geom);
    stale text := '';
BEGIN
    IF NEW.h3 = OLD.h3 AND moved >= 2.0 THEN
        stale := 'h3 ';
    END IF;
    IF TG_TABLE_NAME = 'incidents' THEN
        IF NEW.h3_5 = OLD.h3_5 AND moved >= 29562.3 THEN stale := stale || 'h3_5 '; END IF;
        IF NEW.h3_6 = OLD.h3_6 AND moved >= 11173.6 THEN stale := stale || 'h3_6 '; END IF;
        IF NEW.h3_7 = OLD.h3_7 AND moved >= 4219.4 THEN stale := stale || 'h3_7 '; END IF;
        IF NEW.h3_8 = OLD.h3_8 AND moved >= 1594.2 THEN stale := stale || 'h3_8 '; END IF;
        IF NEW.h3_9 = OLD.h3_9 AND moved >= 602.4 THEN stale := stale || 'h3_9 '; END IF;
        IF NEW.h3_10 = OLD.h3_10 AND moved >= 227.6 THEN stale := stale || 'h3_10 '; END IF;
        IF NEW.h3_11 = OLD.h3_11 AND moved >= 86.0 THEN stale := stale || 'h3_11 '; END IF;
    END IF;
    IF stale <> '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = format('%s %s moved %s m but kept its H3 cells (%s)', TG_TABLE_NAME,
                             OLD.id, round(moved::numeric, 1), rtrim(stale)),
            HINT = 'set the cells of the new position too (h3.latlng_to_cell), or write '
                   'through the API or citybrain.ingest, which compute them';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER teams_stale_cells BEFORE UPDATE OF geom ON citybrain.teams
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.refuse_stale_cells();
CREATE TRIGGER cameras_stale_cells BEFORE UPDATE OF geom ON citybrain.cameras
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.refuse_stale_cells();
CREATE TRIGGER facilities_stale_cells BEFORE UPDATE OF geom ON citybrain.facilities
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.refuse_stale_cells();
CREATE TRIGGER incidents_stale_cells BEFORE UPDATE OF geom ON citybrain.incidents
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.refuse_stale_cells();
