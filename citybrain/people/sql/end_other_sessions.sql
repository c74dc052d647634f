-- A new password: every other session of the account ends.
UPDATE citybrain.sessions SET revoked_at = %(at)s
WHERE user_id = %(user_id)s AND token_hash <> %(token)s AND revoked_at IS NULL
