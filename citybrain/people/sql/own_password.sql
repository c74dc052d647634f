-- One's own new password (row security: one's own row only).
UPDATE citybrain.users SET password_hash = %(password_hash)s, must_change_password = false
WHERE id = %(user_id)s RETURNING id
