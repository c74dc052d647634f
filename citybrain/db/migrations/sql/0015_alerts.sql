-- Migration 0015: alerts announced to listeners; their audit trail append-only.

-- What a screen shows of an alert changed: tell the listeners (services/events.py).
CREATE FUNCTION citybrain.alert_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.status, OLD.observed, OLD.active, OLD.snoozed_until,
                             OLD.area_codes, OLD.summary)
        IS NOT DISTINCT FROM (NEW.status, NEW.observed, NEW.active, NEW.snoozed_until,
                              NEW.area_codes, NEW.summary) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('citybrain_alerts', json_build_object(
        'id', NEW.id, 'change', CASE TG_OP WHEN 'INSERT' THEN 'new' ELSE 'update' END,
        'detector', NEW.detector, 'kind', NEW.kind, 'category', NEW.category,
        'area_name', NEW.area_name, 'summary', NEW.summary, 'observed', NEW.observed,
        'recurrence_days', NEW.recurrence_days, 'status', NEW.status, 'active', NEW.active,
        'snoozed_until', NEW.snoozed_until, 'last_seen', NEW.last_seen)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER alerts_notify AFTER INSERT OR UPDATE ON citybrain.alerts
    FOR EACH ROW EXECUTE FUNCTION citybrain.alert_notify();

CREATE FUNCTION citybrain.alert_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN  -- the alert's own deletion
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % of alert_events refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER alert_events_append_only BEFORE UPDATE OR DELETE ON citybrain.alert_events
    FOR EACH ROW EXECUTE FUNCTION citybrain.alert_audit_append_only();
