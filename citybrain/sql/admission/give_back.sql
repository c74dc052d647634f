-- The slot take.sql took, free for the next heavy answer of any server process.
SELECT pg_advisory_unlock(%(space)s, %(slot)s)
