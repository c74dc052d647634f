-- Phones of these that another account (another login) holds.
SELECT phone, login FROM citybrain.users
WHERE phone = ANY(%(phones)s) AND login <> ALL(%(logins)s)
