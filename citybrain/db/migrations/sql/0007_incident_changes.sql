-- Migration 0007: what changed since a server process last looked (services/heatmap/index.py).

CREATE FUNCTION citybrain.incident_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed := pg_current_xact_id();
    RETURN NEW;
END $$;

-- Inserts take the column's default; an update stamps the row when a watched column changes.
CREATE TRIGGER incidents_changed BEFORE UPDATE ON citybrain.incidents FOR EACH ROW
    WHEN ((OLD.reported_at, OLD.category, OLD.status,
           OLD.h3_5, OLD.h3_6, OLD.h3_7, OLD.h3_8, OLD.h3_9, OLD.h3_10, OLD.h3_11)
          IS DISTINCT FROM (NEW.reported_at, NEW.category, NEW.status,
           NEW.h3_5, NEW.h3_6, NEW.h3_7, NEW.h3_8, NEW.h3_9, NEW.h3_10, NEW.h3_11))
    EXECUTE FUNCTION citybrain.incident_changed();

CREATE FUNCTION citybrain.incident_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO citybrain.incident_deletions (id) SELECT id FROM old_rows;
    RETURN NULL;
END $$;

CREATE TRIGGER incidents_deleted AFTER DELETE ON citybrain.incidents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION citybrain.incident_deleted();

CREATE FUNCTION citybrain.incident_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE citybrain.incident_deletions;
    INSERT INTO citybrain.meta AS m (key, value) VALUES ('incidents_generation', '1')
    ON CONFLICT (key) DO UPDATE SET value = (m.value::bigint + 1)::text;
    RETURN NULL;
END $$;

CREATE TRIGGER incidents_truncated AFTER TRUNCATE ON citybrain.incidents
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.incident_truncated();
