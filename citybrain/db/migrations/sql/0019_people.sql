-- Migration 0019: people, not keys. Accounts and their sessions; an incident's case file
-- apart from its public facts; who sees which case decided by row-level security; an
-- append-only log of every read of unmasked personal data.

-- --- accounts ---------------------------------------------------------------------------------

CREATE TABLE citybrain.users (
    id serial PRIMARY KEY,
    login text NOT NULL CONSTRAINT users_login_key UNIQUE
        CONSTRAINT ck_users_login CHECK (login ~ '^[A-Za-z0-9_.@+-]{2,64}$'),
    name text NOT NULL CONSTRAINT ck_users_name CHECK (length(name) BETWEEN 1 AND 100),
    phone text CONSTRAINT ck_users_phone CHECK (phone ~ '^\+?[0-9-]{5,20}$'),
    role text NOT NULL
        CONSTRAINT ck_users_role CHECK (role IN ('member', 'dispatcher', 'handler', 'leader', 'admin')),
    -- the area: its code and level, and the ids of the town, village and grid it is or lies in
    -- (NULL below its level): what row-level security compares with the case's place
    area_code text NOT NULL,
    area_level text NOT NULL
        CONSTRAINT ck_users_area_level CHECK (area_level IN ('county', 'town', 'village', 'grid')),
    town_id integer REFERENCES citybrain.towns (id),
    village_id integer REFERENCES citybrain.villages (id),
    grid_id integer REFERENCES citybrain.grids (id),
    team_id integer REFERENCES citybrain.teams (id) ON DELETE SET NULL,
    password_hash text NOT NULL,
    must_change_password boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    disabled_at timestamptz,
    import_id integer REFERENCES citybrain.imports (id),
    CONSTRAINT ck_users_area CHECK (
        (area_level = 'county') = (town_id IS NULL)
        AND (area_level IN ('village', 'grid')) = (village_id IS NOT NULL)
        AND (area_level = 'grid') = (grid_id IS NOT NULL)),
    CONSTRAINT ck_users_member_team CHECK (role <> 'member' OR team_id IS NOT NULL)
);
CREATE UNIQUE INDEX users_phone_key ON citybrain.users (phone) WHERE phone IS NOT NULL;
CREATE INDEX ix_users_team ON citybrain.users (team_id) WHERE team_id IS NOT NULL;

-- A session is known by its token's SHA-256 only (the token itself is shown once, to its
-- holder); it ends at its expiry, when revoked, or when its user is disabled.
CREATE TABLE citybrain.sessions (
    token_hash bytea PRIMARY KEY,
    user_id integer NOT NULL REFERENCES citybrain.users (id) ON DELETE CASCADE,
    csrf_hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    address text,
    user_agent text
);
CREATE INDEX ix_sessions_user ON citybrain.sessions (user_id);

-- Failed logins, per account and per address, for the brute-force bound.
CREATE TABLE citybrain.login_failures (
    id bigserial PRIMARY KEY,
    login text NOT NULL,
    address text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX ix_login_failures_login ON citybrain.login_failures (login, at);
CREATE INDEX ix_login_failures_address ON citybrain.login_failures (address, at);

-- Machines keep keys, now with an area too (the county unless said).
ALTER TABLE citybrain.api_keys
    ADD COLUMN area_code text NOT NULL DEFAULT '330421',
    ADD COLUMN area_level text NOT NULL DEFAULT 'county'
        CONSTRAINT ck_api_keys_area_level CHECK (area_level IN ('county', 'town', 'village', 'grid')),
    ADD COLUMN town_id integer REFERENCES citybrain.towns (id),
    ADD COLUMN village_id integer REFERENCES citybrain.villages (id),
    ADD COLUMN grid_id integer REFERENCES citybrain.grids (id);

-- --- the case file: what is not a public fact of an incident --------------------------------

CREATE TABLE citybrain.case_files (
    incident_id bigint PRIMARY KEY REFERENCES citybrain.incidents (id) ON DELETE CASCADE,
    description text,
    reporter_name text,
    reporter_phone text,
    reported_by integer REFERENCES citybrain.users (id),
    attributes jsonb,
    -- the case's scope, copied from its incident by trigger (row-level security reads it
    -- without a join): where it is and who holds it
    town_id integer,
    village_id integer,
    grid_id integer,
    team_id integer
);
CREATE INDEX ix_case_files_town ON citybrain.case_files (town_id);
CREATE INDEX ix_case_files_team ON citybrain.case_files (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX ix_case_files_reported_by ON citybrain.case_files (reported_by)
    WHERE reported_by IS NOT NULL;

INSERT INTO citybrain.case_files (incident_id, description, reporter_name, reporter_phone,
                                  attributes)
SELECT id, description, reporter_name, reporter_phone, attributes FROM citybrain.incidents;

ALTER TABLE citybrain.incidents DROP COLUMN description, DROP COLUMN reporter_name,
    DROP COLUMN reporter_phone, DROP COLUMN attributes;

-- Where an incident is, and who holds it, as its case file's scope.
CREATE FUNCTION citybrain.case_scope(micro integer, team integer,
    OUT town_id integer, OUT village_id integer, OUT grid_id integer, OUT team_id integer)
LANGUAGE sql STABLE AS $$
    SELECT ch.town_id, ch.village_id, ch.grid_id, team
    FROM (SELECT 1) one LEFT JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = micro
$$;

-- A bulk writer that computed the scope in its own statement (the seed, an import) says so
-- with citybrain.scope_given = on, as the point loaders do for cells (migration 0010).
CREATE FUNCTION citybrain.case_file_scope() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('citybrain.scope_given', true) = 'on' THEN
        RETURN NEW;
    END IF;
    SELECT s.town_id, s.village_id, s.grid_id, s.team_id
    INTO NEW.town_id, NEW.village_id, NEW.grid_id, NEW.team_id
    FROM citybrain.incidents i, citybrain.case_scope(i.micro_grid_id, i.team_id) s
    WHERE i.id = NEW.incident_id;
    RETURN NEW;
END $$;
CREATE TRIGGER case_files_scope BEFORE INSERT ON citybrain.case_files
    FOR EACH ROW EXECUTE FUNCTION citybrain.case_file_scope();

-- An incident that moves (another micro-grid) or changes hands (another team) takes its case
-- file's scope with it; one statement for all the rows a statement changed. SECURITY
-- DEFINER: the scope follows whoever moved the incident, whatever case files they may see.
CREATE FUNCTION citybrain.incidents_rescope() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE citybrain.case_files f
    SET town_id = s.town_id, village_id = s.village_id, grid_id = s.grid_id, team_id = s.team_id
    FROM new_rows n JOIN old_rows o ON o.id = n.id,
         citybrain.case_scope(n.micro_grid_id, n.team_id) s
    WHERE f.incident_id = n.id
      AND (n.micro_grid_id IS DISTINCT FROM o.micro_grid_id OR n.team_id IS DISTINCT FROM o.team_id);
    RETURN NULL;
END $$;
CREATE TRIGGER incidents_rescope AFTER UPDATE ON citybrain.incidents
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.incidents_rescope();

UPDATE citybrain.case_files f
SET town_id = s.town_id, village_id = s.village_id, grid_id = s.grid_id, team_id = s.team_id
FROM citybrain.incidents i, citybrain.case_scope(i.micro_grid_id, i.team_id) s
WHERE i.id = f.incident_id;

-- --- who is asking: set by the server on each transaction that reads case files -------------
-- citybrain.user_id, citybrain.role, citybrain.area_level, citybrain.area_id,
-- citybrain.team_id (SET LOCAL through set_config(..., true)). Unset: nobody, who sees no case.

CREATE FUNCTION citybrain.caller_role() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('citybrain.role', true), '')
$$;

CREATE FUNCTION citybrain.caller_int(name text) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('citybrain.' || name, true), '')::integer
$$;

-- Whether the caller's area holds a place (its town, village and grid ids).
CREATE FUNCTION citybrain.caller_area_holds(town integer, village integer, grid integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE nullif(current_setting('citybrain.area_level', true), '')
        WHEN 'county' THEN true
        WHEN 'town' THEN town = citybrain.caller_int('area_id')
        WHEN 'village' THEN village = citybrain.caller_int('area_id')
        WHEN 'grid' THEN grid = citybrain.caller_int('area_id')
        ELSE false
    END
$$;

-- Whether the caller may read a case of this scope: dispatchers, leaders and admins every case
-- of their area; handlers those of their area (their department's, once departments hold
-- cases); members their own team's and their own reports.
CREATE FUNCTION citybrain.caller_sees_case(town integer, village integer, grid integer,
                                          team integer, reporter integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    -- (one test of the area for the four roles that share it: the function is inlined into
    -- every policy that calls it, and a quarter of the expression plans and runs faster:
    -- bench/people.py)
    SELECT CASE
        WHEN citybrain.caller_role() = 'member' THEN team = citybrain.caller_int('team_id')
                                                  OR reporter = citybrain.caller_int('user_id')
        WHEN citybrain.caller_role() IN ('dispatcher', 'handler', 'leader', 'admin')
            THEN citybrain.caller_area_holds(town, village, grid)
        ELSE false
    END
$$;

ALTER TABLE citybrain.case_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE citybrain.case_files FORCE ROW LEVEL SECURITY;
CREATE POLICY case_files_read ON citybrain.case_files FOR SELECT
    USING (citybrain.caller_sees_case(town_id, village_id, grid_id, team_id, reported_by));
-- A case file is written with its incident's report: by whoever may report.
CREATE POLICY case_files_write ON citybrain.case_files FOR INSERT
    WITH CHECK (citybrain.caller_role() IS NOT NULL);
CREATE POLICY case_files_update ON citybrain.case_files FOR UPDATE
    USING (citybrain.caller_sees_case(town_id, village_id, grid_id, team_id, reported_by));
-- Imports (an admin's act, as citybrain_importer) write any case file.
CREATE POLICY case_files_import ON citybrain.case_files TO citybrain_importer
    USING (true) WITH CHECK (true);

-- The audit trail follows its incident's case file.
ALTER TABLE citybrain.incident_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE citybrain.incident_events FORCE ROW LEVEL SECURITY;
CREATE POLICY incident_events_read ON citybrain.incident_events FOR SELECT
    USING (EXISTS (SELECT FROM citybrain.case_files f WHERE f.incident_id = incident_events.incident_id));
CREATE POLICY incident_events_append ON citybrain.incident_events FOR INSERT
    WITH CHECK (citybrain.caller_role() IS NOT NULL);
CREATE POLICY incident_events_import ON citybrain.incident_events TO citybrain_importer
    USING (true) WITH CHECK (true);

-- People: admins, dispatchers and leaders read the accounts of their area, everyone their own;
-- admins change them. (Logging in and finding a session's caller go through the two functions
-- below, which read one account each.)
ALTER TABLE citybrain.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE citybrain.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read ON citybrain.users FOR SELECT USING (
    id = citybrain.caller_int('user_id')
    OR (citybrain.caller_role() IN ('admin', 'dispatcher', 'leader')
        AND citybrain.caller_area_holds(town_id, village_id, grid_id))
);
CREATE POLICY users_admin ON citybrain.users FOR UPDATE USING (
    citybrain.caller_role() = 'admin' AND citybrain.caller_area_holds(town_id, village_id, grid_id)
);
CREATE POLICY users_self ON citybrain.users FOR UPDATE USING (id = citybrain.caller_int('user_id'));
CREATE POLICY users_import ON citybrain.users TO citybrain_importer USING (true) WITH CHECK (true);

-- The account a login names, for checking a password: one row or none.
CREATE FUNCTION citybrain.account_for_login(wanted text,
    OUT id integer, OUT password_hash text, OUT disabled boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT u.id, u.password_hash, u.disabled_at IS NOT NULL FROM citybrain.users u
    WHERE u.login = wanted
$$;

-- Who holds a session: its account, if the session is open (not expired, not revoked) and
-- the account enabled; no row otherwise.
CREATE FUNCTION citybrain.caller_of_session(token bytea, at timestamptz,
    OUT user_id integer, OUT login text, OUT name text, OUT role text, OUT area_code text,
    OUT area_level text, OUT town_id integer, OUT village_id integer, OUT grid_id integer,
    OUT team_id integer, OUT csrf_hash bytea, OUT expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT u.id, u.login, u.name, u.role, u.area_code, u.area_level, u.town_id, u.village_id,
           u.grid_id, u.team_id, s.csrf_hash, s.expires_at
    FROM citybrain.sessions s JOIN citybrain.users u ON u.id = s.user_id
    WHERE s.token_hash = token AND s.revoked_at IS NULL AND s.expires_at > at
      AND u.disabled_at IS NULL
$$;

-- Failed logins of an account and of an address since an instant (for the brute-force
-- bound: the server may add failures and count them, not read them).
CREATE FUNCTION citybrain.login_failures_since(wanted text, from_address text, since timestamptz,
    OUT of_login bigint, OUT of_address bigint, OUT latest_of_login timestamptz,
    OUT latest_of_address timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT count(*) FILTER (WHERE login = wanted), count(*) FILTER (WHERE address = from_address),
           max(at) FILTER (WHERE login = wanted), max(at) FILTER (WHERE address = from_address)
    FROM citybrain.login_failures
    WHERE at >= since AND (login = wanted OR address = from_address)
$$;

-- --- reads of unmasked personal data, for ever ------------------------------------------------

CREATE TABLE citybrain.access_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    user_id integer,
    route text NOT NULL,
    record text NOT NULL,      -- e.g. incident:123, user:45
    fields text[] NOT NULL     -- which personal fields were shown unmasked
);
CREATE INDEX ix_access_log_record ON citybrain.access_log (record);
CREATE INDEX ix_access_log_at ON citybrain.access_log (at);
CREATE FUNCTION citybrain.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON citybrain.access_log
    FOR EACH ROW EXECUTE FUNCTION citybrain.append_only();
ALTER TABLE citybrain.access_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE citybrain.access_log FORCE ROW LEVEL SECURITY;
CREATE POLICY access_log_read ON citybrain.access_log FOR SELECT
    USING (citybrain.caller_role() = 'admin');
CREATE POLICY access_log_append ON citybrain.access_log FOR INSERT
    WITH CHECK (citybrain.caller_role() IS NOT NULL);

-- --- grants -------------------------------------------------------------------------------------
-- The server's requests: read case files and accounts (as row security lets them), write case
-- files and the access log, open and close sessions, count failed logins; never read sessions
-- or failures directly. The importer writes case files and accounts (rosters).

REVOKE ALL ON citybrain.sessions, citybrain.login_failures FROM citybrain_server;
GRANT INSERT ON citybrain.sessions TO citybrain_server;
GRANT SELECT (token_hash, user_id, revoked_at), UPDATE (revoked_at) ON citybrain.sessions
    TO citybrain_server;
REVOKE ALL ON FUNCTION citybrain.account_for_login(text),
    citybrain.caller_of_session(bytea, timestamptz),
    citybrain.login_failures_since(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citybrain.account_for_login(text),
    citybrain.caller_of_session(bytea, timestamptz),
    citybrain.login_failures_since(text, text, timestamptz) TO citybrain_server;
GRANT INSERT ON citybrain.login_failures TO citybrain_server;
GRANT USAGE ON SEQUENCE citybrain.login_failures_id_seq TO citybrain_server;
GRANT INSERT, UPDATE ON citybrain.case_files TO citybrain_server;
GRANT INSERT ON citybrain.access_log TO citybrain_server;
GRANT USAGE ON SEQUENCE citybrain.access_log_id_seq TO citybrain_server;
-- Accounts: every column but the password hash (read only through account_for_login).
REVOKE SELECT ON citybrain.users FROM citybrain_server;
GRANT SELECT (id, login, name, phone, role, area_code, area_level, town_id, village_id, grid_id,
              team_id, must_change_password, created_at, disabled_at, import_id)
    ON citybrain.users TO citybrain_server;
GRANT UPDATE (password_hash, must_change_password, disabled_at, name, phone) ON citybrain.users
    TO citybrain_server;
GRANT SELECT, INSERT, UPDATE, DELETE ON citybrain.case_files, citybrain.users TO citybrain_importer;
GRANT USAGE ON SEQUENCE citybrain.users_id_seq TO citybrain_importer;
