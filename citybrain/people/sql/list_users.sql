SELECT id, login, name, role, area_code, area_level, team_id, created_at, disabled_at,
       must_change_password
FROM citybrain.users
WHERE (%(role)s::text IS NULL OR role = %(role)s)
ORDER BY role, area_code, login
