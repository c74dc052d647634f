INSERT INTO citybrain.access_log (at, actor, role, user_id, route, record, fields)
VALUES (%(at)s, %(actor)s, %(role)s, %(user_id)s, %(route)s, %(record)s, %(fields)s)
