SELECT v.id, v.code, v.name, v.town_id, v.id AS village_id, NULL::integer AS grid_id
FROM citybrain.villages v ORDER BY v.code
