-- Areas where more than %(above)s percent of the cameras are offline (and at least
-- %(at_least)s of them).
SELECT {area} AS area, count(*) FILTER (WHERE NOT c.online) AS offline, count(*) AS cameras
FROM citybrain.cameras c
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = c.micro_grid_id
GROUP BY 1
HAVING count(*) FILTER (WHERE NOT c.online) * 100.0 > %(above)s * count(*)
   AND count(*) FILTER (WHERE NOT c.online) >= %(at_least)s
