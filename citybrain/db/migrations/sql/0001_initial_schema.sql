-- Migration 0001: the micro-grid of every point, found by the database whoever writes it.

-- A point on a shared edge or vertex touches several micro-grids: it belongs to the lowest id,
-- so the answer is one and always the same.
CREATE FUNCTION citybrain.micro_grid_at(g geometry) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT m.id FROM citybrain.micro_grids m
    WHERE ST_Intersects(m.geom, g) ORDER BY m.id LIMIT 1
$$;

-- Area in m² of a small WGS84 geometry (up to a county), from the ellipsoid's local scale at its
-- centroid: dA = M N cos(lat) dlat dlon. Unlike ST_Area(geography) it stays exact for slivers
-- (where the geodesic formula loses everything to rounding), within 1e-4 for real polygons.
CREATE FUNCTION citybrain.area_m2(g geometry) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN ST_IsEmpty(g) THEN 0 ELSE
           ST_Area(g) * (pi() / 180) ^ 2 * 6378137.0 ^ 2 * (1 - 0.00669437999014)
           * cos(radians(lat)) / (1 - 0.00669437999014 * sin(radians(lat)) ^ 2) ^ 2 END
    FROM (SELECT ST_Y(ST_Centroid(ST_Envelope(g))) AS lat) c
$$;

CREATE FUNCTION citybrain.fill_micro_grid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.micro_grid_id := citybrain.micro_grid_at(NEW.geom);
    RETURN NEW;
END
$$;

-- Inserted without a micro-grid (any writer, any tool): find it. Moved: find it again.
CREATE TRIGGER teams_micro_grid BEFORE INSERT ON citybrain.teams
    FOR EACH ROW WHEN (NEW.micro_grid_id IS NULL)
    EXECUTE FUNCTION citybrain.fill_micro_grid();
CREATE TRIGGER teams_micro_grid_move BEFORE UPDATE OF geom ON citybrain.teams
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.fill_micro_grid();
CREATE TRIGGER cameras_micro_grid BEFORE INSERT ON citybrain.cameras
    FOR EACH ROW WHEN (NEW.micro_grid_id IS NULL)
    EXECUTE FUNCTION citybrain.fill_micro_grid();
CREATE TRIGGER cameras_micro_grid_move BEFORE UPDATE OF geom ON citybrain.cameras
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.fill_micro_grid();
CREATE TRIGGER facilities_micro_grid BEFORE INSERT ON citybrain.facilities
    FOR EACH ROW WHEN (NEW.micro_grid_id IS NULL)
    EXECUTE FUNCTION citybrain.fill_micro_grid();
CREATE TRIGGER facilities_micro_grid_move BEFORE UPDATE OF geom ON citybrain.facilities
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.fill_micro_grid();
CREATE TRIGGER incidents_micro_grid BEFORE INSERT ON citybrain.incidents
    FOR EACH ROW WHEN (NEW.micro_grid_id IS NULL)
    EXECUTE FUNCTION citybrain.fill_micro_grid();
CREATE TRIGGER incidents_micro_grid_move BEFORE UPDATE OF geom ON citybrain.incidents
    FOR EACH ROW WHEN (NOT ST_OrderingEquals(NEW.geom, OLD.geom))
    EXECUTE FUNCTION citybrain.fill_micro_grid();
