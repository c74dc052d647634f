INSERT INTO citybrain.incident_events
    (incident_id, at, actor, role, action, from_status, to_status, from_tier, to_tier, team_id,
     department_id, note, detail)
VALUES (%(incident_id)s, %(at)s, %(actor)s, %(role)s, %(action)s, %(from_status)s, %(to_status)s,
        %(from_tier)s, %(to_tier)s, %(team_id)s, %(department_id)s, %(note)s, %(detail)s)
