SELECT status, snoozed_until FROM citybrain.alerts WHERE id = %(id)s FOR UPDATE
