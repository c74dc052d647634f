-- An area's open incidents, the latest first.
SELECT i.id, i.category, i.status, i.tier, i.severity, i.reported_at
FROM citybrain.incidents i
JOIN citybrain.categories c ON c.name = i.category
WHERE i.micro_grid_id IN (
    SELECT m.id
    FROM citybrain.micro_grid_chain ch
    JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
    WHERE ch.{member} = %(id)s
)
AND i.status IN {domain.OPEN_STATUSES}
ORDER BY i.reported_at DESC
