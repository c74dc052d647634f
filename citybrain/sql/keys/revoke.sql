-- Revoke the key in use by this name (none: no row).
UPDATE citybrain.api_keys SET revoked_at = now()
WHERE name = %(name)s AND revoked_at IS NULL
RETURNING id
