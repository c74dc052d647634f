-- The road network's edges and their travel costs each way (a negative reverse cost: one
-- way, pgRouting's rule).
SELECT source, target, cost, reverse_cost FROM citybrain.roads
