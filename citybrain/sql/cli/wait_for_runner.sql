-- citybrain alerts run: wait for the lock a server's alert runner holds while it runs detectors
-- (citybrain/alerts/runner.py, LOCK_KEY), so that the command never runs beside it. The lock is
-- the session's: it is released when the command's connection closes.
SELECT pg_advisory_lock(%(key)s)
