-- An area's incidents since a moment, by category, the most frequent first.
SELECT i.category, count(*) AS n
FROM citybrain.incidents i
JOIN citybrain.categories c ON c.name = i.category
WHERE i.micro_grid_id IN (
    SELECT m.id
    FROM citybrain.micro_grid_chain ch
    JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
    WHERE ch.{member} = %(id)s
)
AND i.reported_at >= %(since)s
GROUP BY 1
ORDER BY 2 DESC, 1
