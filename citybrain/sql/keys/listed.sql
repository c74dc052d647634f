-- Every key, revoked or not, by name.
SELECT name, role, area_code, created_at, revoked_at FROM citybrain.api_keys ORDER BY name
