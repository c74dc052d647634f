SELECT * FROM citybrain.login_failures_since(%(login)s, %(address)s, %(since)s)
