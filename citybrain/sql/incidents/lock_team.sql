-- The team row is the lock that serialises assignments to one team. Count its active incidents
-- in a later statement (active.sql), not here: a statement that waited for the lock still reads
-- with the snapshot it started with, and would miss the incident the previous holder added.
SELECT t.id, t.status, t.capacity, t.skills
FROM citybrain.teams t WHERE t.id = %(id)s FOR UPDATE
