-- The incidents a detector counts, each with its area at the detector's level (an area id of
-- the hierarchy through the micro-grid chain, or an H3 cell column): reported in
-- [start, end), of the given categories (NULL: all). A range scan on reported_at.
SELECT {area} AS area, extract(epoch FROM i.reported_at)::float8 AS t, i.id
FROM citybrain.incidents i
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
WHERE i.reported_at >= %(start)s AND i.reported_at < %(end)s
  AND (%(categories)s::text[] IS NULL OR i.category = ANY (%(categories)s::text[]))
