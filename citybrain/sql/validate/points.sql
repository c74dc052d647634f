-- Points in no micro-grid, or not in the micro-grid they claim: count and a sample of ids.
SELECT CASE WHEN t.micro_grid_id IS NULL THEN 'outside every micro-grid'
            ELSE 'not in its micro-grid' END AS problem,
       count(*), (array_agg(t.id ORDER BY t.id))[1:20]
FROM {points} t
LEFT JOIN citybrain.micro_grids m ON m.id = t.micro_grid_id
WHERE m.id IS NULL OR NOT ST_Intersects(m.geom, t.geom)
GROUP BY 1
ORDER BY 1
