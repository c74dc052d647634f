SELECT d.id, d.code, d.name, d.kind, d.town_id, d.categories
FROM citybrain.departments d WHERE d.id = %(id)s
