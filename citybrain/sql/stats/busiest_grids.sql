-- Grids with the most open incidents now.
SELECT g.code, g.name, count(*) AS open
FROM citybrain.incidents i
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
JOIN citybrain.grids g ON g.id = ch.grid_id
WHERE i.status IN {domain.OPEN_STATUSES}
GROUP BY g.code, g.name
ORDER BY open DESC, g.code
LIMIT %(limit)s
