-- Which of these logins are accounts already.
SELECT login FROM citybrain.users WHERE login = ANY(%(logins)s)
