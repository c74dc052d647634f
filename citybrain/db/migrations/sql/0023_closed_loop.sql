-- Migration 0023: the closed loop (issue 32). Departments beside grid teams as responders (the
-- town's four platforms, the county's departments) and their staff; the declared workflow's
-- new states (registered 立案, checked 核查, rejected 不予立案, merged 并案) and what its steps
-- leave on a case (who holds it, an extension, supervision, the reporter's satisfaction, the
-- case it duplicates or repeats); handlers see their department's cases and grid members
-- their grid's (to check them on the ground).

-- --- departments ---------------------------------------------------------------------------

CREATE TABLE citybrain.departments (
    id serial PRIMARY KEY,
    code text NOT NULL CONSTRAINT departments_code_key UNIQUE
        CONSTRAINT ck_departments_code CHECK (code ~ '^[0-9A-Za-z_.-]{1,40}$'),
    name text NOT NULL CONSTRAINT ck_departments_name CHECK (length(name) BETWEEN 1 AND 100),
    -- platform: one of a town's four platforms (its town_id); county: a county department
    kind text NOT NULL CONSTRAINT ck_departments_kind CHECK (kind IN ('platform', 'county')),
    town_id integer REFERENCES citybrain.towns (id) ON DELETE CASCADE,
    categories text[] NOT NULL CONSTRAINT ck_departments_categories
        CHECK (cardinality(categories) >= 1),
    phone text,
    import_id integer REFERENCES citybrain.imports (id),
    CONSTRAINT ck_departments_town CHECK ((kind = 'platform') = (town_id IS NOT NULL))
);
CREATE INDEX ix_departments_town ON citybrain.departments (town_id);

ALTER TABLE citybrain.users
    ADD COLUMN department_id integer REFERENCES citybrain.departments (id) ON DELETE SET NULL,
    ADD CONSTRAINT ck_users_department CHECK (department_id IS NULL OR role = 'handler');
CREATE INDEX ix_users_department ON citybrain.users (department_id)
    WHERE department_id IS NOT NULL;

-- --- the case's new states and facts -------------------------------------------------------

ALTER TABLE citybrain.incidents DROP CONSTRAINT ck_incidents_status;
ALTER TABLE citybrain.incidents
    ADD CONSTRAINT ck_incidents_status CHECK (status IN ('reported', 'registered', 'dispatched',
        'on_site', 'resolved', 'checked', 'closed', 'escalated', 'rejected', 'merged')),
    ADD COLUMN department_id integer REFERENCES citybrain.departments (id),
    ADD COLUMN registered_at timestamptz,
    ADD COLUMN checked_at timestamptz,
    -- the case this report duplicates (merged into it), or repeats (closed there within 30 days)
    ADD COLUMN merged_into bigint REFERENCES citybrain.incidents (id),
    ADD COLUMN repeat_of bigint REFERENCES citybrain.incidents (id),
    -- approved extensions of the resolution limit, in the limit's own minutes; one asked for
    ADD COLUMN extension_minutes integer NOT NULL DEFAULT 0
        CONSTRAINT ck_incidents_extension CHECK (extension_minutes >= 0),
    ADD COLUMN extension_asked integer
        CONSTRAINT ck_incidents_extension_asked CHECK (extension_asked > 0),
    ADD COLUMN supervised_at timestamptz,
    ADD COLUMN satisfaction text CONSTRAINT ck_incidents_satisfaction
        CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    ADD CONSTRAINT ck_incidents_one_holder CHECK (team_id IS NULL OR department_id IS NULL);
CREATE INDEX ix_incidents_department_id ON citybrain.incidents (department_id)
    WHERE department_id IS NOT NULL;

-- The open statuses' partial indexes follow the open set (domain.OPEN_STATUSES).
DROP INDEX citybrain.ix_incidents_open;
CREATE INDEX ix_incidents_open ON citybrain.incidents (status)
    WHERE status IN ('reported', 'registered', 'dispatched', 'on_site', 'escalated');

ALTER TABLE citybrain.incident_events
    ADD COLUMN department_id integer,
    -- what the step needed besides a note: a reason, photos, minutes, a satisfaction, a case
    ADD COLUMN detail jsonb;

-- --- the case file's scope: who holds it now includes a department -------------------------

ALTER TABLE citybrain.case_files ADD COLUMN department_id integer;
CREATE INDEX ix_case_files_department ON citybrain.case_files (department_id)
    WHERE department_id IS NOT NULL;

CREATE OR REPLACE FUNCTION citybrain.incidents_rescope() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE citybrain.case_files f
    SET town_id = s.town_id, village_id = s.village_id, grid_id = s.grid_id, team_id = s.team_id,
        department_id = n.department_id
    FROM new_rows n JOIN old_rows o ON o.id = n.id,
         citybrain.case_scope(n.micro_grid_id, n.team_id) s
    WHERE f.incident_id = n.id
      AND (n.micro_grid_id IS DISTINCT FROM o.micro_grid_id OR n.team_id IS DISTINCT FROM o.team_id
           OR n.department_id IS DISTINCT FROM o.department_id);
    RETURN NULL;
END $$;

-- Who sees a case: members their team's, their own reports and (checking on the ground) the
-- cases of the grid that is their area; handlers their department's (a handler of no
-- department: their area's); dispatchers, leaders and admins their area's.
DROP POLICY case_files_read ON citybrain.case_files;
DROP POLICY case_files_update ON citybrain.case_files;
DROP FUNCTION citybrain.caller_sees_case(integer, integer, integer, integer, integer);
CREATE FUNCTION citybrain.caller_sees_case(town integer, village integer, grid integer,
                                          team integer, reporter integer, department integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN citybrain.caller_role() = 'member'
            THEN team = citybrain.caller_int('team_id')
                 OR reporter = citybrain.caller_int('user_id')
                 OR (current_setting('citybrain.area_level', true) = 'grid'
                     AND grid = citybrain.caller_int('area_id'))
        WHEN citybrain.caller_role() = 'handler' AND citybrain.caller_int('department_id') IS NOT NULL
            THEN department = citybrain.caller_int('department_id')
        WHEN citybrain.caller_role() IN ('dispatcher', 'handler', 'leader', 'admin')
            THEN citybrain.caller_area_holds(town, village, grid)
        ELSE false
    END
$$;
CREATE POLICY case_files_read ON citybrain.case_files FOR SELECT
    USING (citybrain.caller_sees_case(town_id, village_id, grid_id, team_id, reported_by,
                                      department_id));
CREATE POLICY case_files_update ON citybrain.case_files FOR UPDATE
    USING (citybrain.caller_sees_case(town_id, village_id, grid_id, team_id, reported_by,
                                      department_id));

-- The session's caller now names the handler's department.
DROP FUNCTION citybrain.caller_of_session(bytea, timestamptz);
CREATE FUNCTION citybrain.caller_of_session(token bytea, at timestamptz,
    OUT user_id integer, OUT login text, OUT name text, OUT role text, OUT area_code text,
    OUT area_level text, OUT town_id integer, OUT village_id integer, OUT grid_id integer,
    OUT team_id integer, OUT csrf_hash bytea, OUT expires_at timestamptz,
    OUT must_change_password boolean, OUT department_id integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT u.id, u.login, u.name, u.role, u.area_code, u.area_level, u.town_id, u.village_id,
           u.grid_id, u.team_id, s.csrf_hash, s.expires_at, u.must_change_password,
           u.department_id
    FROM citybrain.sessions s JOIN citybrain.users u ON u.id = s.user_id
    WHERE s.token_hash = token AND s.revoked_at IS NULL AND s.expires_at > at
      AND u.disabled_at IS NULL
$$;
REVOKE ALL ON FUNCTION citybrain.caller_of_session(bytea, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citybrain.caller_of_session(bytea, timestamptz) TO citybrain_server;

-- A resolution limit's due time and card with a case's approved extension (minutes of the
-- limit's own kind): step_due and step_card with one more, defaulted, argument.
DROP FUNCTION citybrain.step_card(text, text, timestamptz, timestamptz, timestamptz);
DROP FUNCTION citybrain.step_due(text, text, timestamptz);
CREATE FUNCTION citybrain.step_due(category text, step text, since timestamptz,
                                   extra integer DEFAULT 0)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT citybrain.limit_due(since, l.minutes + extra, l.working) FROM citybrain.time_limits l
    WHERE l.category = step_due.category AND l.step = step_due.step
$$;
CREATE FUNCTION citybrain.step_card(category text, step text, since timestamptz,
                                    done timestamptz, now timestamptz, extra integer DEFAULT 0)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN NOT citybrain.within_limit(since, coalesce(done, now), l.minutes + extra, l.working)
            THEN 'red'
        WHEN done IS NULL
             AND NOT citybrain.within_limit(since, now, l.minutes + extra, l.working, l.warn_at)
            THEN 'yellow'
    END
    FROM citybrain.time_limits l
    WHERE l.category = step_card.category AND l.step = step_card.step
$$;

-- --- tile versions: small writes stay small -----------------------------------------------
-- tiles_bump's upsert groups the tiles a statement touched; the planner, seeing
-- tiles_touched's generate_series, expects a million groups and sizes a hash table for them
-- (24 MB, allocated and freed on every statement): 8-20 ms of every single-row UPDATE of an
-- incident, and the row locks of the zoom-0..7 tiles held as long. Grouped by sorting, the
-- same trigger takes 0.7 ms (bench/workflow.py); a bulk load pauses it anyway
-- (ingest.derived_paused).
ALTER FUNCTION citybrain.tiles_bump() SET enable_hashagg = off;

-- --- grants --------------------------------------------------------------------------------

GRANT SELECT ON citybrain.departments TO citybrain_server;
GRANT SELECT (department_id) ON citybrain.users TO citybrain_server;
GRANT SELECT, INSERT, UPDATE, DELETE ON citybrain.departments TO citybrain_importer;
GRANT USAGE ON SEQUENCE citybrain.departments_id_seq TO citybrain_importer;
