-- Keep a team's status in step with its load: busy at capacity, available below it
-- (an off-duty team stays off duty).
UPDATE citybrain.teams t SET status = CASE
        WHEN citybrain.team_active(t.id) >= t.capacity
        THEN {domain.TeamStatus.busy} ELSE {domain.TeamStatus.available} END
WHERE t.id = %(id)s AND t.status <> {domain.TeamStatus.off_duty}
