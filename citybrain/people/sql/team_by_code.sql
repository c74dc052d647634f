SELECT id FROM citybrain.teams WHERE code = %(code)s
