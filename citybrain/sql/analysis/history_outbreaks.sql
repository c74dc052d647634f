-- The outbreaks the seed injected (its ground truth), with their compound and village.
SELECT o.category, extract(epoch FROM o.started_at)::float8,
       extract(epoch FROM o.ended_at)::float8, c.id, g.village_id, o.size
FROM citybrain.outbreaks o JOIN citybrain.compounds c ON c.code = o.compound_code
JOIN citybrain.grids g ON g.id = c.grid_id ORDER BY o.id
