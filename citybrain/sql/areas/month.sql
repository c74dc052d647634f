-- An area's incidents since a moment, and the shares dispatched and resolved within their
-- category's time limits (of those dispatched / resolved so far).
SELECT count(*) AS incidents,
       round(100.0 * count(*) FILTER (
           WHERE i.dispatched_at <= i.reported_at + make_interval(mins => c.dispatch_minutes))
           / nullif(count(i.dispatched_at), 0), 1) AS dispatched_on_time_pct,
       round(100.0 * count(*) FILTER (
           WHERE i.resolved_at <= i.reported_at + make_interval(hours => c.resolve_hours))
           / nullif(count(i.resolved_at), 0), 1) AS resolved_on_time_pct
FROM citybrain.incidents i
JOIN citybrain.categories c ON c.name = i.category
WHERE i.micro_grid_id IN (
    SELECT m.id
    FROM citybrain.micro_grid_chain ch
    JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
    WHERE ch.{member} = %(id)s
)
AND i.reported_at >= %(since)s
