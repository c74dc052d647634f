-- Slot %(slot)s of the database's heavy answers (api/admission.py), if it is free: a session
-- advisory lock in citybrain's lock space, held by this connection until give_back.sql.
SELECT pg_try_advisory_lock(%(space)s, %(slot)s)
