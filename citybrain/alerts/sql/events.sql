-- An alert's audit trail, oldest first.
SELECT id, at, actor, role, action, from_status, to_status, note, snoozed_until
FROM citybrain.alert_events WHERE alert_id = %(id)s ORDER BY id
