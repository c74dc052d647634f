-- Per town over [since, now): incidents, and the shares dispatched and resolved within their
-- category's time limits (of those dispatched / resolved so far).
SELECT t.code, t.name, count(*) AS incidents,
       count(*) FILTER (WHERE i.status NOT IN ('resolved', 'closed')) AS open,
       round(100.0 * count(*) FILTER (
           WHERE i.dispatched_at <= i.reported_at + make_interval(mins => c.dispatch_minutes))
           / nullif(count(i.dispatched_at), 0), 1) AS dispatched_on_time_pct,
       round(100.0 * count(*) FILTER (
           WHERE i.resolved_at <= i.reported_at + make_interval(hours => c.resolve_hours))
           / nullif(count(i.resolved_at), 0), 1) AS resolved_on_time_pct
FROM citybrain.incidents i
JOIN citybrain.categories c ON c.name = i.category
JOIN citybrain.micro_grids m ON m.id = i.micro_grid_id
JOIN citybrain.compounds cp ON cp.id = m.compound_id
JOIN citybrain.grids g ON g.id = cp.grid_id
JOIN citybrain.villages v ON v.id = g.village_id
JOIN citybrain.towns t ON t.id = v.town_id
WHERE i.reported_at >= %(since)s
GROUP BY t.code, t.name
ORDER BY t.code
