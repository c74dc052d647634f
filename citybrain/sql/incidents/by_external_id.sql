SELECT id, source FROM citybrain.incidents WHERE external_id = %(external_id)s
