-- Grids with the most open incidents now.
SELECT g.code, g.name, count(*) AS open
FROM citybrain.incidents i
JOIN citybrain.micro_grids m ON m.id = i.micro_grid_id
JOIN citybrain.compounds cp ON cp.id = m.compound_id
JOIN citybrain.grids g ON g.id = cp.grid_id
WHERE i.status IN ('reported', 'dispatched', 'on_site', 'escalated')
GROUP BY g.code, g.name
ORDER BY open DESC, g.code
LIMIT %(limit)s
