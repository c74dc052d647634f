-- The team of a grid (by its code): a member's team when the roster names their grid.
SELECT tm.id FROM citybrain.teams tm JOIN citybrain.grids g ON g.id = tm.grid_id
WHERE g.code = %(code)s ORDER BY tm.id LIMIT 1
