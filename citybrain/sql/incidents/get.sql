-- One incident as the API shows it, with its time limits from the category.
SELECT i.id, i.category, i.source, i.severity, i.status, i.tier, i.description,
       i.reported_at, i.dispatched_at, i.on_site_at, i.resolved_at, i.closed_at, i.escalated_at,
       i.updated_at, i.team_id, i.micro_grid_id, i.h3, i.external_id, i.location_quality,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
       i.reported_at + make_interval(mins => c.dispatch_minutes) AS dispatch_due_at,
       i.reported_at + make_interval(hours => c.resolve_hours) AS resolve_due_at,
       i.reporter_name, i.reporter_phone
FROM citybrain.incidents i
JOIN citybrain.categories c ON c.name = i.category
WHERE i.id = %(id)s
