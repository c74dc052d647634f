-- Every compound with its grid, village and town, its households (its micro-grids') and the
-- incidents reported inside it since the parameter since: what grids are re-divided from
-- (analysis.regions). Parameters in SQLAlchemy's text() style.
SELECT c.id, c.code, c.name, c.grid_id, g.village_id, v.town_id,
       coalesce(h.households, 0)::int AS households, coalesce(i.n, 0)::int AS incidents, c.geom
FROM citybrain.compounds c JOIN citybrain.grids g ON g.id = c.grid_id
JOIN citybrain.villages v ON v.id = g.village_id
LEFT JOIN (SELECT compound_id, sum(households) AS households
  FROM citybrain.micro_grids GROUP BY compound_id) h ON h.compound_id = c.id
LEFT JOIN (SELECT m.compound_id, count(*) AS n FROM citybrain.incidents i
  JOIN citybrain.micro_grids m ON m.id = i.micro_grid_id
  WHERE i.reported_at >= CAST(:since AS timestamptz) GROUP BY m.compound_id) i
  ON i.compound_id = c.id
ORDER BY c.id
