-- What a claimed idempotency key was used for: its report's hash and its incident.
SELECT request_hash, incident_id FROM citybrain.idempotency_keys
WHERE actor = %(actor)s AND key = %(key)s
