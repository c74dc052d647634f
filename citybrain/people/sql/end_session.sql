-- Logout: the session ends at once (none open by this token: no row).
UPDATE citybrain.sessions SET revoked_at = %(at)s
WHERE token_hash = %(token)s AND revoked_at IS NULL RETURNING user_id
