-- Slot %(slot)s of the database's heavy answers (api/admission.py), if it is free: an advisory
-- lock in citybrain's lock space, held by this transaction until it ends (a transaction's, not a
-- session's: through a transaction-mode pooler the session is shared).
SELECT pg_try_advisory_xact_lock(%(space)s, %(slot)s)
