SELECT d.id, d.code, d.name, d.town_id, NULL::integer AS village_id, NULL::integer AS grid_id
FROM citybrain.departments d ORDER BY d.kind DESC, d.code
