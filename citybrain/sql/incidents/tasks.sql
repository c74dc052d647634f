-- A responder's tasks (我的任务): the cases in its hands (domain.IN_HAND) of the caller's team
-- or department, most urgent first (severity, then the resolution due time), at most %(limit)s.
SELECT i.id
FROM citybrain.incidents i
WHERE i.status IN {domain.IN_HAND}
  AND (i.team_id = %(team_id)s OR i.department_id = %(department_id)s)
ORDER BY i.severity DESC,
         citybrain.step_due(i.category, 'resolve', i.reported_at, i.extension_minutes), i.id
LIMIT %(limit)s
