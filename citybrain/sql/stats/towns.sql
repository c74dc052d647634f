-- Per town over [since, now): incidents, and the shares dispatched and resolved within their
-- category's time limits (of those dispatched / resolved so far).
SELECT t.code, t.name, count(*) AS incidents,
       count(*) FILTER (WHERE i.status IN {domain.OPEN_STATUSES}) AS open,
       round(100.0 * count(*) FILTER (
           WHERE i.dispatched_at <= i.reported_at + make_interval(mins => c.dispatch_minutes))
           / nullif(count(i.dispatched_at), 0), 1) AS dispatched_on_time_pct,
       round(100.0 * count(*) FILTER (
           WHERE i.resolved_at <= i.reported_at + make_interval(hours => c.resolve_hours))
           / nullif(count(i.resolved_at), 0), 1) AS resolved_on_time_pct
FROM citybrain.incidents i
JOIN citybrain.categories c ON c.name = i.category
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
JOIN citybrain.towns t ON t.id = ch.town_id
WHERE i.reported_at >= %(since)s
GROUP BY t.code, t.name
ORDER BY t.code
