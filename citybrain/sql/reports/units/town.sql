-- An assessment's units at a level, with the ids of the town, village and grid each is or
-- lies in (NULL above its own: a county department has none).
SELECT t.id, t.code, t.name, t.id AS town_id, NULL::integer AS village_id, NULL::integer AS grid_id
FROM citybrain.towns t ORDER BY t.code
