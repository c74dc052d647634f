-- A member's patrol, locked for a batch of points or its end.
SELECT id, team_id, started_at, ended_at FROM citybrain.patrols
WHERE user_id = %(user_id)s AND client_key = %(key)s
FOR UPDATE
