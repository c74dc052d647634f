SELECT id, code, name FROM citybrain.towns
