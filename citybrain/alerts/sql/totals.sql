-- Incidents per area over a detector's study period (as cases.sql, counted in the database:
-- the scan needs each area's total, not each incident).
SELECT {area} AS area, count(*) AS n
FROM citybrain.incidents i
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
WHERE i.reported_at >= %(start)s AND i.reported_at < %(end)s
  AND (%(categories)s::text[] IS NULL OR i.category = ANY (%(categories)s::text[]))
GROUP BY 1
