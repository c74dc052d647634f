-- An incident's audit trail, in order.
SELECT id, at, actor, role, action, from_status, to_status, from_tier, to_tier, team_id,
       department_id, note, detail
FROM citybrain.incident_events WHERE incident_id = %(id)s ORDER BY id
