SELECT * FROM citybrain.caller_of_session(%(token)s, %(at)s)
