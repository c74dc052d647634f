-- Migration 0014: the incidents' audit trail is append-only, for the owner too.

CREATE FUNCTION citybrain.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A DELETE cascaded from the incident's own deletion runs inside the foreign key's
    -- trigger (depth > 1); any other change to an audit entry is refused.
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % of incident_events refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON citybrain.incident_events
    FOR EACH ROW EXECUTE FUNCTION citybrain.audit_append_only();
