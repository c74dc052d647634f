-- One login attempt of an account at a time, to the end of its transaction: the failures are
-- counted, the password checked and a failure written before the next attempt counts them
-- (without it, a hundred attempts sent at once all find fewer failures than the bound).
SELECT pg_advisory_xact_lock(hashtextextended('citybrain.login:' || %(login)s, 0))
