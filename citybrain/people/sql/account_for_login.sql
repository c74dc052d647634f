SELECT * FROM citybrain.account_for_login(%(login)s)
