-- The team rows are the locks that serialise assignments to a team: the new team and, on a
-- reassignment, the old one, always in id order, so that two reassignments in opposite
-- directions wait for each other instead of deadlocking (LockRows runs above the sort).
-- Count a team's active incidents in a later statement (active.sql), not here: a statement
-- that waited for the lock still reads with the snapshot it started with, and would miss the
-- incident the previous holder added.
SELECT t.id, t.status, t.capacity, t.skills
FROM citybrain.teams t WHERE t.id = ANY(%(ids)s) ORDER BY t.id FOR UPDATE
