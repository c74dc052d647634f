-- A member starts a patrol under their phone's key (started again, the first start stands).
INSERT INTO citybrain.patrols AS p (user_id, client_key, team_id, grid_id, started_at)
VALUES (%(user_id)s, %(key)s, %(team_id)s, %(grid_id)s, %(started_at)s)
ON CONFLICT (user_id, client_key) DO UPDATE SET client_key = p.client_key
RETURNING id, (xmax = 0) AS created
