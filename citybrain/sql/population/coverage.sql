-- The county's resolution-11 cells, each with the micro-grid that holds its centre.
SELECT h3, micro_grid_id FROM citybrain.h3_coverage
