"""API keys made by the service, and who may read what: keys shown once and stored as hashes,
revoked without a restart, named in the audit trail; bootstrap keys never echoed; the access
table of the README, checked route by route for every role."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest
from pydantic import ValidationError

from citybrain.db.connection import libpq_conninfo
from citybrain.services import keys
from citybrain.settings import Settings
from tests.utils.cli import citybrain
from tests.utils.keys import API_KEYS, API_KEYS_SETTING, auth
from tests.utils.server import LiveServer


def test_keys_made_listed_and_revoked_without_a_restart(fresh_county) -> None:
    made = citybrain(fresh_county, "keys", "create", "dispatcher", "--name", "desk-1")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("cb_") and len(key) >= 35  # 192 bits, URL-safe
    again = citybrain(fresh_county, "keys", "create", "viewer", "--name", "desk-1")
    assert again.returncode == 2 and "exists" in again.stderr
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        table = conn.execute("SELECT name, role, key_hash FROM citybrain.api_keys").fetchall()
        dump = str(conn.execute("SELECT * FROM citybrain.api_keys").fetchall())
    assert [(n, r) for n, r, _ in table] == [("desk-1", "dispatcher")]
    assert bytes(table[0][2]) == keys.digest(key) and key not in dump  # only the hash
    listed = citybrain(fresh_county, "keys", "list")
    assert "desk-1" in listed.stderr and key not in listed.stderr + listed.stdout

    with (
        LiveServer(Settings(database_url=fresh_county)) as live,
        live.client() as api,
    ):
        headers = {"Authorization": f"Bearer {key}"}
        r = api.post(
            "/incidents", json={"lon": 120.91, "lat": 30.85, "category": "治安"}, headers=headers
        )
        assert r.status_code == 201, r.text
        events = api.get(f"/incidents/{r.json()['id']}/events", headers=headers).json()
        assert [e["actor"] for e in events] == ["desk-1"]
        assert citybrain(fresh_county, "keys", "revoke", "desk-1").returncode == 0
        time.sleep(keys.REFRESH_S + 0.2)
        r = api.get(f"/incidents/{r.json()['id']}", headers=headers)
        assert r.status_code == 401  # refused by the running server
    assert citybrain(fresh_county, "keys", "revoke", "desk-1").returncode == 2  # not in use


def test_bootstrap_keys_are_checked_without_being_echoed() -> None:
    secret = "short-secret"
    with pytest.raises(ValidationError) as caught:
        Settings(api_keys=f"admin:{secret},viewer:another-very-long-secret-key")
    assert secret not in str(caught.value) and "another-very" not in str(caught.value)
    assert "pair 1 (admin) is shorter than 20" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        Settings(api_keys="root:an-acceptably-long-secret-key-1")
    assert "pair 1 is not role:key" in str(caught.value)
    assert "an-acceptably" not in str(caught.value) and "an-acceptably" not in repr(
        Settings(api_keys="admin:an-acceptably-long-secret-key-1")
    )


# --- the access table --------------------------------------------------------------------------

# route -> the least role that may GET it (None: anyone, also anonymous)
READS = {
    "/collections/incidents/items?limit=1": None,
    "/tiles/incidents/12/3423/1673.mvt": None,
    "/heatmap/incidents?res=7&last=30d": None,
    "/stats": None,
    "/areas/330421001": None,
    "/incidents-latest": None,
    "/teams/1": None,
    "/locate?lon=120.9119&lat=30.8502": None,
    "/teams/1/route?lon=120.9119&lat=30.8502": "viewer",
    "/incidents/1": "viewer",
    "/incidents/1/events": "viewer",
}
ORDER = ("anonymous", "display", "viewer", "dispatcher", "admin")


@pytest.mark.parametrize("path,least", READS.items())
def test_reads_by_role(client: httpx.Client, path: str, least: str | None) -> None:
    for role in ORDER:
        headers = auth(role) if role != "anonymous" else {}
        r = client.get(path, headers=headers)
        allowed = least is None or ORDER.index(role) >= ORDER.index(least)
        assert (r.status_code == 200) == allowed, (path, role, r.status_code)
        if not allowed and role == "anonymous":
            assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        elif not allowed:
            assert r.status_code == 403 and r.json()["code"] == "forbidden", (path, role)


def test_a_public_display_sees_what_an_anonymous_caller_sees(seeded, client) -> None:
    """A public hall's screen on a server closed to anonymous callers: with its display key it
    gets, answer for answer, what an anonymous caller gets where anonymous reads are open, and
    no case file (the proxy the README once suggested added a viewer key, which reads them)."""
    closed = Settings(
        database_url=seeded, api_keys=API_KEYS_SETTING, anonymous_reads=False, rate_limit=""
    )
    public = [path for path, least in READS.items() if least is None]
    public += ["/collections", "/collections/teams/items?limit=5", "/categories"]
    with LiveServer(closed) as live, live.client() as api:
        for path in public:
            assert api.get(path).status_code == 401, path
            shown = api.get(path, headers=auth("display"))
            open_ = client.get(path)
            assert shown.status_code == open_.status_code == 200, path
            if path.endswith(".mvt"):
                assert shown.content == open_.content, path
            else:
                assert _without_times(shown.json()) == _without_times(open_.json()), path
        for path, least in READS.items():
            if least is not None:
                r = api.get(path, headers=auth("display"))
                assert r.status_code == 403, path
        body = {"lon": 120.9119, "lat": 30.8502, "category": "治安"}
        advice = api.post("/dispatch/recommend", json=body, headers=auth("display"))
        assert advice.status_code == 403
        assert api.get("/metrics", headers=auth("display")).status_code == 401


def _without_times(body):
    """An answer without the instants that say when it was made (two servers, two moments)."""
    if isinstance(body, dict):
        return {
            k: _without_times(v)
            for k, v in body.items()
            if k not in ("generated_at", "timeStamp") and not k.startswith("href")
        }
    if isinstance(body, list):
        return [_without_times(v) for v in body]
    return body


def test_team_members_names_need_a_viewer(client: httpx.Client) -> None:
    public = client.get("/teams/1").json()["members"]
    named = client.get("/teams/1", headers=auth("viewer")).json()["members"]
    assert [m["role"] for m in public] == [m["role"] for m in named]
    assert all(set(m) == {"role"} for m in public) and all(m["name"] for m in named)


def test_dispatch_advice_needs_a_viewer(client: httpx.Client) -> None:
    body = {"lon": 120.9119, "lat": 30.8502, "category": "治安"}
    r = client.post("/dispatch/recommend", json=body)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert "viewer" in r.json()["detail"]
    r = client.post("/dispatch/recommend", json=body, headers=auth("viewer"))
    assert r.status_code == 200
    assert all(m["name"] for m in r.json()["responsible_team"]["members"])


def test_no_member_name_reaches_an_anonymous_caller(client: httpx.Client, conn) -> None:
    """Every anonymous read that tells of a team (its card, the chain of a point, the nearest
    teams, the teams layer) at each team's own grid: no member's name in any answer, though
    the database holds them and a viewer's answers carry them."""
    rows = conn.execute(
        "SELECT t.id, ST_X(p), ST_Y(p), t.members FROM citybrain.teams t "
        "JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) p FROM citybrain.grids g "
        "WHERE g.id = t.grid_id) s ON true ORDER BY t.id LIMIT 12"
    ).fetchall()
    names = {m["name"] for *_, members in rows for m in members}
    assert len(names) >= 12
    seen_by_viewer = ""
    for team_id, lon, lat, _ in rows:
        where = f"lon={lon}&lat={lat}"
        for path in (
            f"/teams/{team_id}",
            f"/locate?{where}",
            f"/nearest?{where}&kind=teams&k=10",
            f"/collections/teams/items/{team_id}",
        ):
            r = client.get(path)
            assert r.status_code == 200, (path, r.text)
            leaked = [n for n in names if n in r.text]
            assert not leaked, (path, leaked)
        seen_by_viewer += client.get(f"/locate?{where}", headers=auth("viewer")).text
    assert all(m["name"] in seen_by_viewer for *_, members in rows for m in members)


def test_reporters_need_a_dispatcher(client: httpx.Client, conn) -> None:
    """A viewer sees the reporter masked (138****5678); dispatchers and admins unmasked."""
    inc, phone = conn.execute(
        "SELECT incident_id, reporter_phone FROM citybrain.case_files "
        "WHERE reporter_phone IS NOT NULL ORDER BY incident_id LIMIT 1"
    ).fetchone()
    masked = phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    for role, sees in (("viewer", masked), ("dispatcher", phone), ("admin", phone)):
        body = client.get(f"/incidents/{inc}", headers=auth(role)).json()
        assert body["reporter_phone"] == sees, role


def test_a_server_for_key_holders_only(seeded) -> None:
    settings = Settings(database_url=seeded, api_keys=API_KEYS_SETTING, anonymous_reads=False)
    with LiveServer(settings) as live, live.client() as api:
        for path in ("/", "/collections", "/tiles/9/427/211.mvt", "/heatmap/incidents", "/events"):
            r = api.get(path)
            assert r.status_code == 401 and r.json()["code"] == "unauthorized", path
        assert api.get("/healthz").status_code == 200
        assert api.get("/collections", headers=auth("viewer")).status_code == 200
        r = api.get("/collections", headers={"Authorization": "Bearer " + "x" * 30})
        assert r.status_code == 401 and "invalid API key" in r.json()["detail"]
        assert API_KEYS["viewer"] not in r.text
