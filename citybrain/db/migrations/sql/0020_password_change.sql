-- An account whose password an administrator set (created, reset or imported) must change it
-- before it does anything else: the session's caller now says so (caller_of_session), and the
-- server refuses every route but who-am-I, the password change and logout until it is done.
DROP FUNCTION citybrain.caller_of_session(bytea, timestamptz);
CREATE FUNCTION citybrain.caller_of_session(token bytea, at timestamptz,
    OUT user_id integer, OUT login text, OUT name text, OUT role text, OUT area_code text,
    OUT area_level text, OUT town_id integer, OUT village_id integer, OUT grid_id integer,
    OUT team_id integer, OUT csrf_hash bytea, OUT expires_at timestamptz,
    OUT must_change_password boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT u.id, u.login, u.name, u.role, u.area_code, u.area_level, u.town_id, u.village_id,
           u.grid_id, u.team_id, s.csrf_hash, s.expires_at, u.must_change_password
    FROM citybrain.sessions s JOIN citybrain.users u ON u.id = s.user_id
    WHERE s.token_hash = token AND s.revoked_at IS NULL AND s.expires_at > at
      AND u.disabled_at IS NULL
$$;
REVOKE ALL ON FUNCTION citybrain.caller_of_session(bytea, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citybrain.caller_of_session(bytea, timestamptz) TO citybrain_server;
