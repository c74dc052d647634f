INSERT INTO citybrain.sessions (token_hash, user_id, csrf_hash, created_at, expires_at, address,
                                user_agent)
VALUES (%(token)s, %(user_id)s, %(csrf)s, %(at)s, %(expires)s, %(address)s, %(user_agent)s)
