SELECT id FROM citybrain.departments WHERE code = %(code)s
