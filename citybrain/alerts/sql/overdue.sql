-- Grids holding at least %(at_least)s cases still waiting for dispatch past their category's
-- dispatch time limit, with the grid's team(s): the rule "a team's open cases past their
-- dispatch time limit". Grouped by grid, not by team: a waiting case has no team_id yet (it is
-- set by dispatching), so the grid it lies in is whose it is; a team has one home grid and a
-- grid may have several teams, all named. Waiting statuses come from
-- citybrain.domain.AWAITING_DISPATCH.
SELECT ch.grid_id AS area, count(*) AS n, array_agg(i.id ORDER BY i.id) AS ids,
       min(coalesce(i.escalated_at, i.reported_at)) AS oldest,
       (SELECT string_agg(t.name, '、' ORDER BY t.id) FROM citybrain.teams t
        WHERE t.grid_id = ch.grid_id) AS teams
FROM citybrain.incidents i
JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
WHERE i.status = ANY (%(waiting)s::text[])
  -- an escalated case waits for the higher tier's dispatch from its escalation
  AND citybrain.step_card(i.category, 'dispatch', coalesce(i.escalated_at, i.reported_at),
                          NULL, %(now)s) = 'red'
  AND (%(categories)s::text[] IS NULL OR i.category = ANY (%(categories)s::text[]))
GROUP BY ch.grid_id
HAVING count(*) >= %(at_least)s
