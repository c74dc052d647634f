-- Every incident reported in [start, end), oldest first, with its compound and village: what
-- an early-warning replay reads once (analysis.early_warning.load_history).
SELECT i.category, extract(epoch FROM i.reported_at)::float8, ch.compound_id,
       ch.village_id, i.id
FROM citybrain.incidents i
JOIN citybrain.micro_grid_chain ch USING (micro_grid_id)
WHERE i.reported_at >= %(start)s AND i.reported_at < %(end)s ORDER BY i.reported_at
