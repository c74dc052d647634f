-- Incidents reported since the parameter since (public fields: no reporter), with their grid,
-- village and town and whether each done step met its time limit (citybrain.within_limit: on the
-- clock or in working hours; NULL while undone). Parameters in SQLAlchemy's text() style.
SELECT i.id, i.category, i.status, i.severity, i.reported_at, i.dispatched_at,
       i.resolved_at, i.team_id, i.h3_7, i.h3_8, i.h3_9, ST_X(i.geom) AS lon,
       ST_Y(i.geom) AS lat, g.id AS grid_id, g.name AS grid, v.name AS village, t.name AS town,
       citybrain.within_limit(i.reported_at, i.dispatched_at, d.minutes, d.working)
           AS dispatched_on_time,
       citybrain.within_limit(i.reported_at, i.resolved_at,
                              r.minutes + i.extension_minutes, r.working)
           AS resolved_on_time
FROM citybrain.incidents i
LEFT JOIN citybrain.time_limits d ON d.category = i.category AND d.step = 'dispatch'
LEFT JOIN citybrain.time_limits r ON r.category = i.category AND r.step = 'resolve'
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
JOIN citybrain.grids g ON g.id = ch.grid_id
JOIN citybrain.villages v ON v.id = ch.village_id
JOIN citybrain.towns t ON t.id = ch.town_id
WHERE i.reported_at >= CAST(:since AS timestamptz)
