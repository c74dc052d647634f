-- The incident an idempotency key made, for a retry to be answered with.
UPDATE citybrain.idempotency_keys SET incident_id = %(id)s
WHERE actor = %(actor)s AND key = %(key)s
