-- The keys a server accepts: those not revoked, by hash, with the area each acts in.
SELECT key_hash, name, role, area_code, area_level, town_id, village_id, grid_id
FROM citybrain.api_keys WHERE revoked_at IS NULL
