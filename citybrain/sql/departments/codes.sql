SELECT code FROM citybrain.departments WHERE code = ANY (%(codes)s)
