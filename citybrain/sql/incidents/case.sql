-- The incident a step is taken on (the workflow appends FOR UPDATE OF i to lock it): what the
-- workflow checks (its status, tier and holder, the extension asked, the satisfaction
-- recorded, whether its holder took it or asked for escalation) and the town it lies in.
SELECT i.id, i.status, i.tier, i.team_id, i.department_id, i.category, i.extension_asked,
       i.satisfaction, i.accepted_at, i.escalation_asked, ch.town_id, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM citybrain.incidents i
LEFT JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
WHERE i.id = %(id)s
