-- The teams of the grids an area lies in or holds (the grids of the micro-grids below it),
-- with their members' roles and their active cases.
SELECT t.id, t.name, t.status, t.capacity,
       (SELECT array_agg(DISTINCT x->>'role') FROM jsonb_array_elements(t.members) x) AS roles,
       citybrain.team_active(t.id) AS active
FROM citybrain.teams t
WHERE t.grid_id IN (
    SELECT DISTINCT ch.grid_id
    FROM citybrain.micro_grid_chain ch
    JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
    WHERE ch.{member} = %(id)s
)
ORDER BY t.id
