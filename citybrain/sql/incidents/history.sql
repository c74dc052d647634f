-- Incidents' (%(ids)s) audit trails, each in order.
SELECT incident_id, id, at, actor, role, action, from_status, to_status, from_tier, to_tier,
       team_id, department_id, note, detail
FROM citybrain.incident_events WHERE incident_id = ANY(%(ids)s) ORDER BY incident_id, id
