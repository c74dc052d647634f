-- Migration 0005: every incident written is announced (migration 0011's downgrade applies
-- this file again).

CREATE FUNCTION citybrain.incident_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Public fields only: the reporter's name and phone never leave the database this way.
    PERFORM pg_notify('citybrain_incidents', json_build_object(
        'op', lower(TG_OP), 'id', NEW.id, 'category', NEW.category, 'status', NEW.status,
        'tier', NEW.tier, 'severity', NEW.severity, 'team_id', NEW.team_id,
        'reported_at', NEW.reported_at, 'updated_at', NEW.updated_at,
        'micro_grid_id', NEW.micro_grid_id,
        'lon', round(ST_X(NEW.geom)::numeric, 7), 'lat', round(ST_Y(NEW.geom)::numeric, 7)
    )::text);
    RETURN NULL;
END $$;

CREATE TRIGGER incidents_notify AFTER INSERT OR UPDATE ON citybrain.incidents
    FOR EACH ROW EXECUTE FUNCTION citybrain.incident_notify();
