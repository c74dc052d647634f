-- 考核: the cases reported in [start, end) (a cohort: each figure counts them, whenever their
-- steps came), per unit of a level, in the caller's area (%(town)s, %(village)s, %(grid)s: the
-- ids its area is or lies in; NULL above its level). The unit of a case is its place's town,
-- village or grid, or the team or department holding it. Returns and failed checks are
-- counted from the audit trail: at a holder level, for the holder the case was returned by or
-- failed its check with. On time: a done step within its category's limit (the resolution
-- limit with the case's approved extensions: citybrain.within_limit); overdue: resolution done
-- after its due time, or undone past it at %(as_of)s (the period's end, or now if earlier).
WITH cases AS (
    SELECT i.id, i.category, i.status, i.reported_at, i.registered_at, i.dispatched_at,
           i.resolved_at,
           i.closed_at, i.repeat_of, i.satisfaction, i.supervised_at, i.extension_minutes,
           i.team_id, i.department_id, ch.town_id, ch.village_id, ch.grid_id,
           CASE %(level)s WHEN 'town' THEN ch.town_id WHEN 'village' THEN ch.village_id
                          WHEN 'grid' THEN ch.grid_id WHEN 'team' THEN i.team_id
                          ELSE i.department_id END AS unit
    FROM citybrain.incidents i
    LEFT JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
    WHERE i.reported_at >= %(start)s AND i.reported_at < %(end)s
      AND (%(town)s::integer IS NULL OR ch.town_id = %(town)s)
      AND (%(village)s::integer IS NULL OR ch.village_id = %(village)s)
      AND (%(grid)s::integer IS NULL OR ch.grid_id = %(grid)s)
),
figures AS (
    SELECT c.unit,
           count(*) AS received,
           count(*) FILTER (WHERE c.status NOT IN {domain.ENDED_UNHANDLED}
                              AND (c.registered_at IS NOT NULL OR c.dispatched_at IS NOT NULL))
               AS registered,
           count(*) FILTER (WHERE c.status IN {domain.ENDED_UNHANDLED}) AS not_registered,
           count(c.dispatched_at) AS dispatched,
           count(*) FILTER (WHERE citybrain.within_limit(c.reported_at, c.dispatched_at,
                                                         d.minutes, d.working))
               AS dispatched_on_time,
           count(c.resolved_at) AS resolved,
           count(*) FILTER (WHERE citybrain.within_limit(c.reported_at, c.resolved_at,
                                                         r.minutes + c.extension_minutes,
                                                         r.working)) AS resolved_on_time,
           count(*) FILTER (WHERE c.status NOT IN {domain.ENDED_UNHANDLED}
                              AND NOT citybrain.within_limit(
                                  c.reported_at, coalesce(c.resolved_at, %(as_of)s),
                                  r.minutes + c.extension_minutes, r.working)) AS overdue,
           count(c.closed_at) AS closed,
           count(c.repeat_of) AS repeats,
           count(c.supervised_at) AS supervised,
           count(c.satisfaction) AS evaluated,
           count(*) FILTER (WHERE c.satisfaction IN {domain.SATISFIED}) AS satisfied
    FROM cases c
    LEFT JOIN citybrain.time_limits d ON d.category = c.category AND d.step = 'dispatch'
    LEFT JOIN citybrain.time_limits r ON r.category = c.category AND r.step = 'resolve'
    GROUP BY c.unit
),
trail AS (
    SELECT CASE WHEN %(level)s = 'team' THEN e.team_id
                WHEN %(level)s = 'department' THEN e.department_id
                ELSE c.unit END AS unit,
           count(*) FILTER (WHERE e.action = %(returned)s) AS returned,
           count(*) FILTER (WHERE e.action = %(failed_check)s) AS failed_checks
    FROM cases c
    JOIN citybrain.incident_events e ON e.incident_id = c.id
    WHERE e.action IN (%(returned)s, %(failed_check)s)
    GROUP BY 1
)
SELECT coalesce(f.unit, t.unit) AS unit,
       coalesce(f.received, 0) AS received, coalesce(f.registered, 0) AS registered,
       coalesce(f.not_registered, 0) AS not_registered,
       coalesce(f.dispatched, 0) AS dispatched,
       coalesce(f.dispatched_on_time, 0) AS dispatched_on_time,
       coalesce(f.resolved, 0) AS resolved, coalesce(f.resolved_on_time, 0) AS resolved_on_time,
       coalesce(f.overdue, 0) AS overdue, coalesce(f.closed, 0) AS closed,
       coalesce(t.returned, 0) AS returned, coalesce(t.failed_checks, 0) AS failed_checks,
       coalesce(f.repeats, 0) AS repeats, coalesce(f.supervised, 0) AS supervised,
       coalesce(f.evaluated, 0) AS evaluated, coalesce(f.satisfied, 0) AS satisfied
FROM figures f FULL JOIN trail t ON t.unit = f.unit
