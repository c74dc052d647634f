-- Migration 0024: the grid member's phone (issue 33). Photos kept by their content's SHA-256
-- (the bytes live in the photo store, citybrain.photos_store; the table says who sent them,
-- when and where), the cases and steps they belong to, patrols (巡查) with their points and
-- track, and what the member's own steps leave on a case (签收 accepted, 申请上报 asked).

-- --- photos --------------------------------------------------------------------------------
-- One row per photo and sender: the same bytes sent by two people are one file, two rows.
CREATE TABLE citybrain.photos (
    id text NOT NULL CONSTRAINT ck_photos_id CHECK (id ~ '^[0-9a-f]{64}$'),
    uploaded_by text NOT NULL,
    media_type text NOT NULL
        CONSTRAINT ck_photos_media_type CHECK (media_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes integer NOT NULL CONSTRAINT ck_photos_bytes CHECK (bytes > 0),
    width integer NOT NULL CONSTRAINT ck_photos_width CHECK (width > 0),
    height integer NOT NULL CONSTRAINT ck_photos_height CHECK (height > 0),
    uploaded_at timestamptz NOT NULL,
    taken_at timestamptz,
    geom geometry(Point, 4326),
    PRIMARY KEY (id, uploaded_by)
);

-- Which case a photo shows, and through which step (report, report_done, verify, ...): a
-- photo is served to whoever sees one of its cases (row-level security on case_files).
CREATE TABLE citybrain.incident_photos (
    incident_id bigint NOT NULL REFERENCES citybrain.incidents (id) ON DELETE CASCADE,
    photo_id text NOT NULL,
    step text NOT NULL,
    -- who carried it into the case: whose record of it (time, place) the case shows
    uploaded_by text NOT NULL,
    PRIMARY KEY (incident_id, photo_id),
    FOREIGN KEY (photo_id, uploaded_by) REFERENCES citybrain.photos (id, uploaded_by)
);
CREATE INDEX ix_incident_photos_photo ON citybrain.incident_photos (photo_id);

-- --- patrols (巡查) --------------------------------------------------------------------------
-- A patrol is known to its member by the key their phone gave it (so that starting it, its
-- points and its end can be sent again after a lost answer, and applied once).
CREATE TABLE citybrain.patrols (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES citybrain.users (id) ON DELETE CASCADE,
    client_key text NOT NULL CONSTRAINT ck_patrols_client_key CHECK (client_key ~ '^[A-Za-z0-9_-]{8,64}$'),
    team_id integer REFERENCES citybrain.teams (id) ON DELETE SET NULL,
    grid_id integer REFERENCES citybrain.grids (id) ON DELETE SET NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    -- the walked line, its M the epoch seconds of each point; its length in metres
    -- (geodesic) and the share of the grid's roads it passed within 20 m of
    track geometry(LineStringM, 4326),
    length_m double precision,
    roads_share double precision
        CONSTRAINT ck_patrols_roads_share CHECK (roads_share BETWEEN 0 AND 1),
    CONSTRAINT patrols_user_key UNIQUE (user_id, client_key)
);
CREATE INDEX ix_patrols_team ON citybrain.patrols (team_id, started_at);

CREATE TABLE citybrain.patrol_points (
    patrol_id bigint NOT NULL REFERENCES citybrain.patrols (id) ON DELETE CASCADE,
    at timestamptz NOT NULL,
    geom geometry(Point, 4326) NOT NULL,
    accuracy_m real,
    PRIMARY KEY (patrol_id, at)
);

-- --- what a member's own steps leave on a case ------------------------------------------------
ALTER TABLE citybrain.incidents
    ADD COLUMN accepted_at timestamptz,          -- 签收: the holder took it (cleared with a new holder)
    ADD COLUMN escalation_asked text;            -- 申请上报: the holder's reason (until escalated)

-- --- grants --------------------------------------------------------------------------------
GRANT SELECT, INSERT ON citybrain.photos, citybrain.incident_photos TO citybrain_server;
GRANT SELECT, INSERT, UPDATE ON citybrain.patrols TO citybrain_server;
GRANT SELECT, INSERT ON citybrain.patrol_points TO citybrain_server;
GRANT USAGE ON SEQUENCE citybrain.patrols_id_seq TO citybrain_server;
