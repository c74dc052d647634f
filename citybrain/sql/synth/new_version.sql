-- A new version of what ``key`` names (county_version, roads_version): readers that cache the
-- county or the road graph reload when it moves.
INSERT INTO citybrain.meta (key, value) VALUES (%(key)s, gen_random_uuid()::text)
ON CONFLICT (key) DO UPDATE SET value = excluded.value
