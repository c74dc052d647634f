"""People of the seeded county (``synth.people``) as the tests use them: a password of the
test's own for an account (reset as the owner would), a session through the API, and the
case files an account may see, by SQL written apart from the policies."""

from __future__ import annotations

import httpx
import psycopg

from citybrain import clock
from citybrain.db.connection import libpq_conninfo
from citybrain.people.accounts import reset_password
from citybrain.settings import Settings


def password_of(url: str, login: str, *, changed: bool = True) -> str:
    """A fresh password for ``login`` (``citybrain users reset-password``, as the owner), which
    its holder has since made their own (``changed``), else one they must change first."""
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        password = reset_password(conn, login, clock.now(Settings()))
        if changed:
            conn.execute(
                "UPDATE citybrain.users SET must_change_password = false WHERE login = %s",
                [login],
            )
        return password


def log_in(client: httpx.Client, url: str, login: str) -> dict[str, str]:
    """The Authorization header of a new session of ``login``."""
    r = client.post("/auth/login", json={"login": login, "password": password_of(url, login)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# Which incidents an account's case files cover, written from the definitions over the
# incidents themselves (where they are, by the micro-grid chain; who holds them) rather than
# from the case files' copied scope or the policies' functions: members their team's cases,
# their own reports and their grid's; a department's handlers its cases; the others their
# area's.
SEES = """
SELECT i.id FROM citybrain.incidents i
LEFT JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
JOIN citybrain.case_files f ON f.incident_id = i.id,
citybrain.users u
WHERE u.login = %(login)s AND CASE
    WHEN u.role = 'member' THEN i.team_id = u.team_id OR f.reported_by = u.id
                                OR (u.area_level = 'grid' AND ch.grid_id = u.grid_id)
    WHEN u.role = 'handler' AND u.department_id IS NOT NULL THEN i.department_id = u.department_id
    WHEN u.area_level = 'county' THEN true
    WHEN u.area_level = 'town' THEN ch.town_id = u.town_id
    WHEN u.area_level = 'village' THEN ch.village_id = u.village_id
    ELSE ch.grid_id = u.grid_id
END
ORDER BY 1
"""


def visible_to(conn: psycopg.Connection, login: str) -> list[int]:
    return [r[0] for r in conn.execute(SEES, {"login": login})]
