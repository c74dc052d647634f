INSERT INTO citybrain.users (login, name, phone, role, area_code, area_level, town_id,
                             village_id, grid_id, team_id, department_id, password_hash,
                             must_change_password, created_at)
VALUES (%(login)s, %(name)s, %(phone)s, %(role)s, %(area_code)s, %(area_level)s, %(town_id)s,
        %(village_id)s, %(grid_id)s, %(team_id)s, %(department_id)s, %(password_hash)s, true,
        %(now)s)
RETURNING id
