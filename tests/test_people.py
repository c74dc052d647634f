"""People, not keys (issue 31): logging in and out, sessions that end, brute force bounded,
CSRF on the cookie path; who sees which case file, decided by PostgreSQL's row-level security
(checked against SQL run as the owner, and shown to hang on the policies); personal data masked
by role, every unmasked read logged once."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from citybrain.db.connection import libpq_conninfo
from tests.utils.keys import auth
from tests.utils.people import log_in, password_of, visible_to
from tests.utils.serve import Serve
from tests.utils.server import LiveServer, server_settings

TOWN_A, TOWN_B = "330421001", "330421002"


@pytest.fixture(scope="module")
def people(fresh_county_module) -> Iterator[LiveServer]:
    settings = server_settings(
        fresh_county_module, login_failures_per_address=10_000, login_window_s=3.0
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture(scope="module")
def url(fresh_county_module) -> str:
    return fresh_county_module


def _owner(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_conninfo(url), autocommit=True)


def _a_member(conn, town: str) -> str:
    return conn.execute(
        "SELECT u.login FROM citybrain.users u JOIN citybrain.towns t ON t.id = u.town_id "
        "WHERE u.role = 'member' AND t.code = %s ORDER BY u.id LIMIT 1",
        [town],
    ).fetchone()[0]


# --- logging in -----------------------------------------------------------------------------


def test_right_wrong_and_unknown(people, url) -> None:
    with people.client() as c:
        password = password_of(url, "d-" + TOWN_A)
        ok = c.post("/auth/login", json={"login": "d-" + TOWN_A, "password": password})
        assert ok.status_code == 200
        body = ok.json()
        assert body["me"]["role"] == "dispatcher" and body["me"]["area_code"] == TOWN_A
        assert body["token"].startswith("cbs_") and len(body["token"]) > 40
        assert "httponly" in ok.headers["set-cookie"].lower()
        assert "samesite=strict" in ok.headers["set-cookie"].lower()
        me = c.get("/auth/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
        assert (me["kind"], me["actor"], me["area_level"]) == ("user", "d-" + TOWN_A, "town")
        wrong = c.post("/auth/login", json={"login": "d-" + TOWN_B, "password": "not-it-at-all"})
        unknown = c.post("/auth/login", json={"login": "nobody-here", "password": "whatever1"})
        assert wrong.status_code == unknown.status_code == 401
        assert (
            wrong.json()
            == unknown.json()
            == {
                "code": "unauthorized",
                "detail": "wrong login or password",
            }
        )


def test_unknown_and_wrong_take_the_same_time(people, url) -> None:
    """50 tries each, interleaved: the medians within the noise of each other (an unknown
    login costs a hash check like a wrong password)."""
    with _owner(url) as conn:
        members = [
            r[0]
            for r in conn.execute(
                "SELECT login FROM citybrain.users WHERE role = 'member' ORDER BY id LIMIT 50"
            )
        ]
    wrong, unknown = [], []
    with people.client() as c:
        for i, login in enumerate(members):
            for kind, name in (("wrong", login), ("unknown", f"ghost-{i}")):
                t0 = time.perf_counter()
                r = c.post("/auth/login", json={"login": name, "password": "bad-password-1"})
                (wrong if kind == "wrong" else unknown).append(time.perf_counter() - t0)
                assert r.status_code == 401
    a, b = statistics.median(wrong), statistics.median(unknown)
    spread = statistics.pstdev(wrong + unknown)
    assert abs(a - b) < max(spread, 0.2 * min(a, b)), (a, b, spread)


def test_lockout_and_its_end(people, url) -> None:
    """5 failures of one login: refused (429, Retry-After) even with the right password,
    until the window (3 s on this server) has passed."""
    login = "d-330421003"  # (a login the other tests leave alone)
    password = password_of(url, login)
    with people.client() as c:
        for _ in range(5):
            assert (
                c.post("/auth/login", json={"login": login, "password": "x" * 12}).status_code
                == 401
            )
        locked = c.post("/auth/login", json={"login": login, "password": password})
        assert locked.status_code == 429 and locked.json()["code"] == "too_many_requests"
        assert 1 <= int(locked.headers["retry-after"]) <= 4
        time.sleep(int(locked.headers["retry-after"]) + 0.2)
        assert c.post("/auth/login", json={"login": login, "password": password}).status_code == 200


def test_attempts_sent_at_once_take_turns(people, url) -> None:
    """Twelve wrong passwords for one login sent at once: the first five are counted and
    refused (401), the other seven find the bound reached (429), not twelve password checks."""
    login = "d-330421112"  # (a login the other tests leave alone)
    password_of(url, login)  # (it exists)

    def attempt(_: int) -> int:
        with people.client() as c:
            return c.post("/auth/login", json={"login": login, "password": "y" * 12}).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = Counter(pool.map(attempt, range(12)))
    assert codes == {401: 5, 429: 7}
    with _owner(url) as conn:
        counted = conn.execute(
            "SELECT count(*) FROM citybrain.login_failures WHERE login = %s", [login]
        ).fetchone()[0]
    assert counted == 5


def _failures(url: str, login: str) -> int:
    with _owner(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM citybrain.login_failures WHERE login = %s", [login]
        ).fetchone()[0]


def test_a_password_an_administrator_set_is_changed_first(people, url) -> None:
    """A reset password logs in, but the session may only ask who it is, change the password
    or log out until the password is its holder's own; the change ends the other sessions."""
    login = "d-330421102"  # (a login the other tests leave alone)
    given = password_of(url, login, changed=False)
    new = "my-own-password-2026"
    with _owner(url) as conn:
        case = f"/incidents/{visible_to(conn, login)[0]}"
    with people.client() as c:
        opened = c.post("/auth/login", json={"login": login, "password": given}).json()
        assert opened["me"]["must_change_password"] is True
        first = {"Authorization": f"Bearer {opened['token']}"}
        other = log_in_as(c, login, given)
        refused = c.get(case, headers=first)
        assert refused.status_code == 403 and "POST /auth/password" in refused.json()["detail"]
        assert c.post("/incidents", json={}, headers=first).status_code == 403
        assert "incidents" not in c.get("/healthz", headers=first).json()  # (as anonymous)
        assert c.get("/auth/me", headers=first).json()["must_change_password"] is True
        # a wrong old password is a failed login of the account; the old one again is refused
        before = _failures(url, login)
        wrong = c.post("/auth/password", json={"old": "not-it-at-all", "new": new}, headers=first)
        assert wrong.status_code == 401 and _failures(url, login) == before + 1
        same = c.post("/auth/password", json={"old": given, "new": given}, headers=first)
        assert same.status_code == 400 and "old one" in same.json()["detail"]
        done = c.post("/auth/password", json={"old": given, "new": new}, headers=first)
        assert done.status_code == 204
        assert c.get(case, headers=first).status_code == 200
        assert c.get("/healthz", headers=first).json()["incidents"] > 0
        assert c.get("/auth/me", headers=first).json()["must_change_password"] is False
        assert c.get("/auth/me", headers=other).status_code == 401  # (the other session ended)
        assert c.post("/auth/login", json={"login": login, "password": given}).status_code == 401
        assert c.post("/auth/login", json={"login": login, "password": new}).status_code == 200


def test_old_password_guesses_are_bounded_like_logins(people, url) -> None:
    """A session cannot guess its account's password through the change: five wrong old
    passwords, and the right one is refused (429) until the window has passed."""
    login = "d-330421103"  # (a login the other tests leave alone)
    password = password_of(url, login)
    with people.client() as c:
        me = log_in_as(c, login, password)
        for i in range(5):
            r = c.post(
                "/auth/password",
                json={"old": f"guess-{i:07d}", "new": "a-strong-new-password-7"},
                headers=me,
            )
            assert r.status_code == 401
        locked = c.post(
            "/auth/password", json={"old": password, "new": "a-strong-new-password-7"}, headers=me
        )
        assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 4
        assert _failures(url, login) == 5  # (the refused sixth is not counted)
        time.sleep(int(locked.headers["retry-after"]) + 0.2)
        ok = c.post(
            "/auth/password", json={"old": password, "new": "a-strong-new-password-7"}, headers=me
        )
        assert ok.status_code == 204


def log_in_as(c: httpx.Client, login: str, password: str) -> dict[str, str]:
    r = c.post("/auth/login", json={"login": login, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_logout_expiry_and_disable_end_sessions(fresh_county) -> None:
    settings = server_settings(fresh_county, session_hours=3 / 3600)  # 3 s
    with LiveServer(settings) as live, live.client() as c:
        # logout
        me = log_in(c, fresh_county, "leader")
        assert c.get("/auth/me", headers=me).json()["kind"] == "user"
        assert c.post("/auth/logout", headers=me).status_code == 204
        assert c.get("/auth/me", headers=me).status_code == 401
        # expiry
        me = log_in(c, fresh_county, "leader")
        assert c.get("/incidents/1", headers=me).status_code == 200
        time.sleep(3.5)
        assert c.get("/incidents/1", headers=me).status_code == 401
        # disabling the account ends its live session at once
        me = log_in(c, fresh_county, "dispatcher")
        assert c.get("/incidents/1", headers=me).status_code == 200
        from citybrain import clock
        from citybrain.people.accounts import disable

        with _owner(fresh_county) as conn:
            assert disable(conn, "dispatcher", clock.now()) == 1
        assert c.get("/incidents/1", headers=me).status_code == 401
        r = c.post(
            "/auth/login",
            json={"login": "dispatcher", "password": password_of(fresh_county, "dispatcher")},
        )
        assert r.status_code == 401


def test_the_cookie_path_needs_its_csrf_token(people, url) -> None:
    """A page's session rides in a cookie; its writes must also carry the CSRF token."""
    with people.client() as c:
        r = c.post(
            "/auth/login", json={"login": "dispatcher", "password": password_of(url, "dispatcher")}
        )
        csrf = r.json()["csrf"]
        assert c.cookies.get("citybrain_session") and c.cookies.get("citybrain_csrf") == csrf
        assert c.get("/incidents/1").status_code == 200  # reads: the cookie alone
        body = {"lon": 120.9119, "lat": 30.8502, "category": "治安"}
        refused = c.post("/incidents", json=body)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
        assert (
            c.post("/incidents", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
        )
        # Another Authorization header beside the cookie does not excuse the cookie's session
        dodged = c.post("/incidents", json=body, headers={"Authorization": "Bearer not-a-key"})
        assert dodged.status_code == 403 and "X-CSRF-Token" in dodged.json()["detail"]
        made = c.post("/incidents", json=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201
        with _owner(url) as conn:
            actor = conn.execute(
                "SELECT actor, role FROM citybrain.incident_events WHERE incident_id = %s",
                [made.json()["id"]],
            ).fetchone()
        assert actor == ("dispatcher", "dispatcher")  # the person, in the audit trail


def test_tokens_and_passwords_never_in_answers_or_logs(url) -> None:
    """`citybrain serve` with every request logged: a login, a forged token, a wrong password;
    neither the token nor the password is in an answer or a log line."""
    password = password_of(url, "leader")
    with Serve(url, workers=1, CITYBRAIN_ACCESS_LOG="true", CITYBRAIN_LOG_FORMAT="json") as s:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            given = {"login": "leader", "password": password}
            token = c.post("/auth/login", json=given).json()["token"]
            bad = c.get("/auth/me", headers={"Authorization": f"Bearer {token}x"})
            assert bad.status_code == 401 and token not in bad.text
            wrong = c.post("/auth/login", json={"login": "leader", "password": password + "x"})
            assert wrong.status_code == 401 and password not in wrong.text
            assert c.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).is_success
        logged = "\n".join(s.lines())
    assert "/auth/login" in logged and "/auth/me" in logged  # (the requests were logged)
    assert token not in logged and password not in logged


# --- who sees which case file: the database decides ------------------------------------------


def test_every_role_sees_exactly_its_scope(people, url) -> None:
    """Users of every role in two towns: each case-file read answers the cases SQL (run as the
    owner, over the incidents and the micro-grid chain) says the account's area and role hold,
    and 404 for the rest; events likewise."""
    with _owner(url) as conn:
        accounts = ["leader", "dispatcher", "d-" + TOWN_A, "d-" + TOWN_B]
        accounts += [_a_member(conn, TOWN_A), _a_member(conn, TOWN_B)]
        scope = {a: set(visible_to(conn, a)) for a in accounts}
        sample = sorted(
            {
                r[0]
                for r in conn.execute(
                    "SELECT min(i.id) FROM citybrain.incidents i "
                    "JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id "
                    "GROUP BY ch.town_id, i.team_id % 7"
                )
            }
            | {min(scope[accounts[-1]]), min(scope[accounts[-2]])}
        )
        trail = dict(
            conn.execute(
                "SELECT i.id, count(e.id) FROM citybrain.incidents i LEFT JOIN "
                "citybrain.incident_events e ON e.incident_id = i.id WHERE i.id = ANY(%s) "
                "GROUP BY i.id",
                [sample],
            ).fetchall()
        )
    assert scope["leader"] == scope["dispatcher"] and len(scope["leader"]) > 10_000
    assert scope["d-" + TOWN_A].isdisjoint(scope["d-" + TOWN_B])
    with people.client() as c:
        for login in accounts:
            me = log_in(c, url, login)
            for incident in sample:
                got = c.get(f"/incidents/{incident}", headers=me)
                events = c.get(f"/incidents/{incident}/events", headers=me)
                expected = 200 if incident in scope[login] else 404
                assert (got.status_code, events.status_code) == (expected, expected), (
                    login,
                    incident,
                )
                if expected == 200:
                    assert got.json()["id"] == incident
                    assert len(events.json()) == trail[incident]


def test_the_scope_is_the_databases_not_the_routes(fresh_county) -> None:
    """The same read, the policies switched off: the other town's case file comes back. So
    the 404s above are the database's refusals, not the route's."""
    with _owner(fresh_county) as conn:
        theirs = visible_to(conn, "d-" + TOWN_B)[0]
        assert theirs not in visible_to(conn, "d-" + TOWN_A)
    with LiveServer(server_settings(fresh_county)) as live, live.client() as c:
        me = log_in(c, fresh_county, "d-" + TOWN_A)
        assert c.get(f"/incidents/{theirs}", headers=me).status_code == 404
        with _owner(fresh_county) as conn:
            conn.execute("ALTER TABLE citybrain.case_files NO FORCE ROW LEVEL SECURITY")
            conn.execute("ALTER TABLE citybrain.case_files DISABLE ROW LEVEL SECURITY")
        assert c.get(f"/incidents/{theirs}", headers=me).status_code == 200


def test_no_identity_no_rows(url) -> None:
    """Connected as the server's role with no caller named, every case-file table is empty."""
    with _owner(url) as conn:
        assert conn.execute("SELECT count(*) FROM citybrain.case_files").fetchone()[0] > 10_000
        conn.execute("SET ROLE citybrain_server")
        for table in ("case_files", "incident_events", "users", "access_log"):
            count = conn.execute(f"SELECT count(*) FROM citybrain.{table}").fetchone()[0]
            assert count == 0, table
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM citybrain.sessions")
        conn.execute("RESET ROLE")
        conn.execute("SET ROLE citybrain_importer")  # (the account lookup is the server's only)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM citybrain.account_for_login('leader')")
        conn.execute("RESET ROLE")


# --- personal data ---------------------------------------------------------------------------


def test_personal_data_masked_by_role_and_each_unmasked_read_logged(people, url) -> None:
    with _owner(url) as conn:
        incident, name, phone = conn.execute(
            "SELECT incident_id, reporter_name, reporter_phone FROM citybrain.case_files "
            "WHERE reporter_phone IS NOT NULL AND town_id = "
            "(SELECT id FROM citybrain.towns WHERE code = %s) ORDER BY incident_id LIMIT 1",
            [TOWN_A],
        ).fetchone()
        logged = conn.execute("SELECT count(*) FROM citybrain.access_log").fetchone()[0]
    masked = (name[0] + "*" * (len(name) - 1), phone[:3] + "*" * (len(phone) - 7) + phone[-4:])
    with people.client() as c:
        leader = c.get(f"/incidents/{incident}", headers=log_in(c, url, "leader")).json()
        viewer = c.get(f"/incidents/{incident}", headers=auth("viewer")).json()
        assert (leader["reporter_name"], leader["reporter_phone"]) == masked
        assert (viewer["reporter_name"], viewer["reporter_phone"]) == masked
        with _owner(url) as conn:
            assert conn.execute("SELECT count(*) FROM citybrain.access_log").fetchone()[0] == logged
        seen = c.get(f"/incidents/{incident}", headers=log_in(c, url, "d-" + TOWN_A)).json()
        assert (seen["reporter_name"], seen["reporter_phone"]) == (name, phone)
    with _owner(url) as conn:
        rows = conn.execute(
            "SELECT actor, role, route, record, fields FROM citybrain.access_log "
            "ORDER BY id OFFSET %s",
            [logged],
        ).fetchall()
    assert rows == [
        (
            "d-" + TOWN_A,
            "dispatcher",
            "GET /incidents/{id}",
            f"incident:{incident}",
            ["reporter_name", "reporter_phone"],
        )
    ]
