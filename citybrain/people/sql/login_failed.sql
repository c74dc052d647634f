INSERT INTO citybrain.login_failures (login, address, at) VALUES (%(login)s, %(address)s, %(at)s)
