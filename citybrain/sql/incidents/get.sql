-- Incidents (%(ids)s) as the API shows them: its public facts, its case file (row-level security: no
-- row for a caller outside its scope), what its workflow's steps left on it, and its steps'
-- due times and cards (黄牌 yellow, 红牌 red) at %(now)s from its category's time limits
-- (citybrain.step_due, step_card; the resolution limit with its approved extensions).
SELECT i.id, i.category, i.source, i.severity, i.status, i.tier, f.description,
       i.reported_at, i.registered_at, i.dispatched_at, i.on_site_at, i.resolved_at,
       i.checked_at, i.closed_at, i.escalated_at, i.updated_at, i.team_id, i.department_id,
       i.micro_grid_id, i.h3, i.external_id, i.location_quality,
       i.merged_into, i.repeat_of, i.extension_minutes, i.extension_asked, i.supervised_at,
       i.satisfaction, i.accepted_at, i.escalation_asked,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
       citybrain.step_due(i.category, 'dispatch', i.reported_at) AS dispatch_due_at,
       citybrain.step_due(i.category, 'resolve', i.reported_at, i.extension_minutes)
           AS resolve_due_at,
       citybrain.step_card(i.category, 'dispatch', i.reported_at, i.dispatched_at, %(now)s)
           AS dispatch_card,
       citybrain.step_card(i.category, 'resolve', i.reported_at, i.resolved_at, %(now)s,
                           i.extension_minutes) AS resolve_card,
       f.reporter_name, f.reporter_phone
FROM citybrain.case_files f
JOIN citybrain.incidents i ON i.id = f.incident_id
WHERE f.incident_id = ANY(%(ids)s)
