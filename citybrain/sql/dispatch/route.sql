-- The shortest path between two road vertices by pgRouting, as one GeoJSON line, with its
-- travel time (s) and length (m).
SELECT ST_AsGeoJSON(ST_LineMerge(ST_Collect(r.geom ORDER BY d.seq)), 7)::json AS geometry,
       coalesce(max(d.agg_cost + d.cost), 0) AS cost_s,
       coalesce(sum(r.length_m), 0) AS length_m
FROM pgr_dijkstra(
    'SELECT id, source, target, cost, reverse_cost FROM citybrain.roads',
    %(source)s::bigint, %(target)s::bigint, directed => true
) d
JOIN citybrain.roads r ON r.id = d.edge
