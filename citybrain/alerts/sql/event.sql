INSERT INTO citybrain.alert_events (alert_id, at, actor, role, action, from_status, to_status,
                                    note, snoozed_until)
VALUES (%(alert_id)s, %(at)s, %(actor)s, %(role)s, %(action)s, %(from_status)s, %(to_status)s, %(note)s,
        %(snoozed_until)s)
