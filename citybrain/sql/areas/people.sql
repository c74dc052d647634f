-- The people of an area: the sums over the micro-grids below it. The micro-grid chain (the
-- view of migration 0015) names every level above a micro-grid; member is the area's level's
-- column in it.
SELECT coalesce(sum(m.population), 0) AS population,
       coalesce(sum(m.households), 0) AS households,
       count(*) AS micro_grids
FROM citybrain.micro_grid_chain ch
JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
WHERE ch.{member} = %(id)s
