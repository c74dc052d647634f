-- Migration 0006: one definition of a team's load.

CREATE FUNCTION citybrain.team_active(team integer) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT count(*) FROM citybrain.incidents
    WHERE team_id = team AND status IN ('dispatched', 'on_site')  -- ix_incidents_active_team
$$;
