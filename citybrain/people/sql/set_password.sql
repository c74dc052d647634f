UPDATE citybrain.users SET password_hash = %(password_hash)s,
       must_change_password = %(must_change)s
WHERE login = %(login)s RETURNING id
