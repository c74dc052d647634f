-- A new API key, stored as its hash only (the name is unique: a second is a conflict), with
-- the area it acts in.
INSERT INTO citybrain.api_keys (name, role, key_hash, area_code, area_level, town_id, village_id,
                                grid_id)
VALUES (%(name)s, %(role)s, %(hash)s, %(area_code)s, %(area_level)s, %(town_id)s,
        %(village_id)s, %(grid_id)s)
