-- A department from a county's list, matched by its code.
INSERT INTO citybrain.departments (code, name, kind, town_id, categories, phone)
VALUES (%(code)s, %(name)s, %(kind)s, %(town_id)s, %(categories)s, %(phone)s)
ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind,
    town_id = excluded.town_id, categories = excluded.categories, phone = excluded.phone
