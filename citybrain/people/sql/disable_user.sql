UPDATE citybrain.users SET disabled_at = coalesce(disabled_at, %(now)s)
WHERE login = %(login)s RETURNING id
