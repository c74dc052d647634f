SELECT citybrain.team_active(%(id)s)
