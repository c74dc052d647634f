-- One incident as the API shows it: its public facts, its case file (row-level security: no
-- row for a caller outside its scope), and its time limits from the category.
SELECT i.id, i.category, i.source, i.severity, i.status, i.tier, f.description,
       i.reported_at, i.dispatched_at, i.on_site_at, i.resolved_at, i.closed_at, i.escalated_at,
       i.updated_at, i.team_id, i.micro_grid_id, i.h3, i.external_id, i.location_quality,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
       i.reported_at + make_interval(mins => c.dispatch_minutes) AS dispatch_due_at,
       i.reported_at + make_interval(hours => c.resolve_hours) AS resolve_due_at,
       f.reporter_name, f.reporter_phone
FROM citybrain.case_files f
JOIN citybrain.incidents i ON i.id = f.incident_id
JOIN citybrain.categories c ON c.name = i.category
WHERE f.incident_id = %(id)s
