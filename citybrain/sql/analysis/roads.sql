-- The road graph's edges as the router takes them: travel seconds, a negative reverse cost
-- one-way.
SELECT source, target, length_m, cost, reverse_cost FROM citybrain.roads ORDER BY id
