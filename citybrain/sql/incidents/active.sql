SELECT count(*) FROM citybrain.incidents
WHERE team_id = %(id)s AND status IN ('dispatched', 'on_site')
