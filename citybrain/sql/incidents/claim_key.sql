-- Claim an idempotency key for a report: its primary key serialises concurrent retries (the
-- second waits for the first's transaction); no row when the key was claimed before.
INSERT INTO citybrain.idempotency_keys (actor, key, request_hash)
VALUES (%(actor)s, %(key)s, %(hash)s)
ON CONFLICT DO NOTHING
RETURNING key
