-- Migration 0011: incidents announced by statement. CREATE OR REPLACE throughout: migration
-- 0012's downgrade applies this file again to put back incidents_announce as it is here.

-- The public fields of an incident (never the reporter's name or phone).
CREATE OR REPLACE FUNCTION citybrain.incident_public(i citybrain.incidents, op text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'op', op, 'id', i.id, 'category', i.category, 'status', i.status,
        'tier', i.tier, 'severity', i.severity, 'team_id', i.team_id,
        'reported_at', i.reported_at, 'updated_at', i.updated_at,
        'micro_grid_id', i.micro_grid_id,
        'lon', round(ST_X(i.geom)::numeric, 7), 'lat', round(ST_Y(i.geom)::numeric, 7)
    )::text
$$;

CREATE OR REPLACE FUNCTION citybrain.announce_incidents_bulk(op text, n bigint, extent box2d)
RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('citybrain_incidents_bulk', json_build_object(
        'op', op, 'count', n,
        'bbox', json_build_array(
            round(ST_XMin(extent)::numeric, 6), round(ST_YMin(extent)::numeric, 6),
            round(ST_XMax(extent)::numeric, 6), round(ST_YMax(extent)::numeric, 6))
    )::text)
$$;

CREATE OR REPLACE FUNCTION citybrain.incidents_announce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
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
