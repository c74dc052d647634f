-- A roster's row for a known login: who they are and where, never their password.
UPDATE citybrain.users SET name = %(name)s, phone = %(phone)s, role = %(role)s,
       area_code = %(area_code)s, area_level = %(area_level)s, town_id = %(town_id)s,
       village_id = %(village_id)s, grid_id = %(grid_id)s, team_id = %(team_id)s,
       department_id = %(department_id)s
WHERE login = %(login)s
