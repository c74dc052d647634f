-- Every town, with its incidents over [since, now) and the shares dispatched and resolved
-- within their category's time limits (of those dispatched / resolved so far; on the clock or
-- in working hours, citybrain.within_limit). A quiet town
-- (no incident in the window: good news) is listed with 0, not left out: the per-town counts
-- start from the incidents of the window (their reported_at index), and the towns join them.
WITH per_town AS (
    SELECT ch.town_id, count(*) AS incidents,
           count(*) FILTER (WHERE i.status IN {domain.OPEN_STATUSES}) AS open,
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
    JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
    WHERE i.reported_at >= %(since)s
    GROUP BY ch.town_id
)
SELECT t.code, t.name, coalesce(p.incidents, 0) AS incidents, coalesce(p.open, 0) AS open,
       p.dispatched_on_time_pct, p.resolved_on_time_pct
FROM citybrain.towns t
LEFT JOIN per_town p ON p.town_id = t.id
ORDER BY t.code
