-- An area's incidents since a moment, and the shares dispatched and resolved within their
-- category's time limits (of those dispatched / resolved so far; on time: within the limit,
-- citybrain.within_limit).
SELECT count(*) AS incidents,
       round(100.0 * count(*) FILTER (
           WHERE citybrain.within_limit(i.reported_at, i.dispatched_at, d.minutes, d.working))
           / nullif(count(i.dispatched_at), 0), 1) AS dispatched_on_time_pct,
       round(100.0 * count(*) FILTER (
           WHERE citybrain.within_limit(i.reported_at, i.resolved_at,
                                        r.minutes + i.extension_minutes, r.working))
           / nullif(count(i.resolved_at), 0), 1) AS resolved_on_time_pct
FROM citybrain.incidents i
LEFT JOIN citybrain.time_limits d ON d.category = i.category AND d.step = 'dispatch'
LEFT JOIN citybrain.time_limits r ON r.category = i.category AND r.step = 'resolve'
WHERE i.micro_grid_id IN (
    SELECT m.id
    FROM citybrain.micro_grid_chain ch
    JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
    WHERE ch.{member} = %(id)s
)
AND i.reported_at >= %(since)s
