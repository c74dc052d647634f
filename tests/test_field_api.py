"""The grid member's phone through the API (issue 33): photos kept without their metadata and
served only to whoever sees their case, steps and reports sent again applied once, the
member's own steps (签收, 到场 with the position, 申请上报), my tasks, and patrols stored as
tracks. Values are checked against Pillow, hashlib, SQL written apart, pyproj and shapely."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from datetime import datetime, timedelta

import pytest
from PIL import Image
from pyproj import Geod, Transformer
from shapely import wkb
from shapely.geometry import LineString
from shapely.ops import transform

from citybrain import clock
from citybrain.settings import Settings
from tests.utils.cases import People, grid_of, ok, report, road_walk, step
from tests.utils.keys import auth
from tests.utils.photos import gps_exif, jpeg, photo_id, send

TOWN, OTHER_TOWN = "330421001", "330421002"
DISPATCHER = f"d-{TOWN}"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def people(module_server, fresh_county_module) -> People:
    return People(module_server, fresh_county_module)


@pytest.fixture(scope="module")
def grid(module_owner) -> dict:
    return grid_of(module_owner, TOWN)


@pytest.fixture(scope="module")
def far(module_owner) -> dict:
    return grid_of(module_owner, OTHER_TOWN)


def dispatched(c, people, grid) -> int:
    """A case reported by the grid's member and dispatched to its team."""
    inc = report(c, people[grid["members"][0]], grid)
    ok(c, people[DISPATCHER], inc, "dispatch", team_id=grid["team"])
    return inc


# --- photos --------------------------------------------------------------------------------


def test_a_photo_is_kept_without_its_exif_and_no_larger_than_1600(
    module_client, people, grid, module_owner
) -> None:
    c, member = module_client, people[grid["members"][0]]
    big = jpeg("big", size=(2400, 1800), exif=gps_exif(119.9, 30.5))
    assert Image.open(io.BytesIO(big)).getexif().get(0x8825)  # (it has GPS as sent)
    r = send(c, member, big, lon=grid["lon"], lat=grid["lat"], taken_at="2026-11-20T09:30:00+08:00")
    assert r.status_code == 201, r.text
    kept = r.json()
    assert (kept["width"], kept["height"], kept["as_sent"]) == (1600, 1200, False)
    served = c.get(f"/photos/{kept['id']}", headers=member)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(served.content).hexdigest() == kept["id"] == r.headers["location"][8:]
    img = Image.open(io.BytesIO(served.content))
    assert img.size == (1600, 1200) and not img.getexif() and "exif" not in img.info
    row = module_owner.execute(
        "SELECT bytes, ST_X(geom), ST_Y(geom), taken_at FROM citybrain.photos WHERE id = %s",
        [kept["id"]],
    ).fetchone()
    assert row[0] == len(served.content)
    assert (row[1], row[2]) == pytest.approx((grid["lon"], grid["lat"]), abs=1e-9)
    assert row[3] == datetime.fromisoformat("2026-11-20T01:30:00+00:00")

    # A clean photo within the bound (what the app sends) is kept byte for byte.
    clean = jpeg("clean", size=(800, 600))
    r = send(c, member, clean)
    assert r.status_code == 201 and r.json()["as_sent"] is True
    assert r.json()["id"] == hashlib.sha256(clean).hexdigest()
    assert c.get(f"/photos/{r.json()['id']}", headers=member).content == clean
    again = send(c, member, clean)  # sent again: the same photo
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert module_owner.execute(
        "SELECT count(*) FROM citybrain.photos WHERE id = %s", [r.json()["id"]]
    ).fetchone() == (1,)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` × ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


BAD = [
    (b"GIF89a" + b"\0" * 64, 415, "JPEG, PNG or WebP"),  # a GIF is not taken
    (b"#!/bin/sh\nrm -rf /\n", 415, "none of them"),  # named .jpg, sent as image/jpeg
    (jpeg("cut", size=(400, 300))[:600], 400, "cannot be read"),  # truncated
    (_png_declaring(20_000, 20_000), 413, "pixels"),
    (b"", 400, "no photo"),
]


@pytest.mark.parametrize(
    ("data", "code", "words"), BAD, ids=["gif", "script", "cut", "bomb", "empty"]
)
def test_a_bad_photo_is_refused_and_nothing_is_kept(
    module_client, people, grid, module_owner, data, code, words
) -> None:
    before = module_owner.execute("SELECT count(*) FROM citybrain.photos").fetchone()
    r = send(module_client, people[grid["members"][0]], data)
    assert r.status_code == code, r.text
    assert words in r.json()["detail"]
    assert module_owner.execute("SELECT count(*) FROM citybrain.photos").fetchone() == before


def test_a_photo_larger_than_the_bound_is_413(module_client, people, grid) -> None:
    too_big = b"\xff\xd8" + b"\0" * int(Settings().photo_max_mb * 2**20 + 10)
    r = send(module_client, people[grid["members"][0]], too_big)
    assert r.status_code == 413 and "CITYBRAIN_PHOTO_MAX_MB" in r.json()["detail"]
    r = send(module_client, {}, jpeg("anon"))  # anonymous callers send nothing
    assert r.status_code in (401, 403)


def test_a_photo_is_served_to_whoever_sees_its_case(
    module_client, people, grid, far, module_owner
) -> None:
    c, member = module_client, people[grid["members"][0]]
    pid = photo_id(c, member, "scene/1")
    body = {"lon": grid["lon"], "lat": grid["lat"], "category": "矛盾纠纷", "photos": [pid]}
    r = c.post("/incidents", json=body, headers=member)
    assert r.status_code == 201, r.text
    inc = r.json()["id"]
    assert module_owner.execute(
        "SELECT photo_id, step FROM citybrain.incident_photos WHERE incident_id = %s", [inc]
    ).fetchall() == [(pid, "report")]
    # Who sees the case sees the photo: the grid's other member, the town's dispatcher.
    for login in (grid["members"][1], DISPATCHER):
        got = c.get(f"/photos/{pid}", headers=people[login])
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == pid
        listed = c.get(f"/incidents/{inc}/photos", headers=people[login]).json()
        assert [(p["id"], p["step"], p["uploaded_by"]) for p in listed] == [
            (pid, "report", grid["members"][0])
        ]
    # Another town's member and dispatcher do not, and are not told that it exists.
    for login in (far["members"][0], f"d-{OTHER_TOWN}"):
        assert c.get(f"/photos/{pid}", headers=people[login]).status_code == 404
        assert c.get(f"/incidents/{inc}/photos", headers=people[login]).status_code == 404
    assert c.get(f"/photos/{'0' * 64}", headers=member).status_code == 404
    # Nobody carries a photo another sent into a case of theirs.
    theirs = {**body, "photos": [pid]}
    r = c.post("/incidents", json=theirs, headers=people[far["members"][0]])
    assert r.status_code == 400 and "unknown photos" in r.json()["detail"]


# --- the member's steps, sent again ------------------------------------------------------


def test_a_step_sent_again_with_its_key_is_taken_once(
    module_client, people, grid, module_owner
) -> None:
    c, member = module_client, people[grid["members"][0]]
    inc = dispatched(c, people, grid)
    key = {**member, "Idempotency-Key": "phone-step-1"}
    first = c.post(f"/incidents/{inc}/steps/accept", json={}, headers=key)
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    again = c.post(f"/incidents/{inc}/steps/accept", json={}, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["accepted_at"] == first.json()["accepted_at"]
    assert module_owner.execute(
        "SELECT count(*) FROM citybrain.incident_events "
        "WHERE incident_id = %s AND action = 'accept'",
        [inc],
    ).fetchone() == (1,)
    # Without the key, a second 签收 is a conflict; the key with another step is too.
    assert step(c, member, inc, "accept").status_code == 409
    r = c.post(f"/incidents/{inc}/steps/handle", json={}, headers=key)
    assert r.status_code == 409 and "different request" in r.json()["detail"]


def test_the_members_steps(module_client, people, grid, module_owner) -> None:
    c, member = module_client, people[grid["members"][0]]
    inc = dispatched(c, people, grid)
    body = ok(c, member, inc, "accept")
    assert body["accepted_at"] is not None and body["status"] == "dispatched"
    # 到场: on site, and the team is where the member is (its last position was earlier).
    lon, lat = grid["lon"] + 0.0004, grid["lat"] - 0.0003
    module_owner.execute(
        "UPDATE citybrain.teams SET position_at = '2020-01-01T00:00:00Z' WHERE id = %s",
        [grid["team"]],
    )
    body = ok(c, member, inc, "handle", lon=lon, lat=lat)
    assert body["status"] == "on_site"
    x, y, at = module_owner.execute(
        "SELECT ST_X(geom), ST_Y(geom), position_at FROM citybrain.teams WHERE id = %s",
        [grid["team"]],
    ).fetchone()
    assert (x, y) == pytest.approx((lon, lat), abs=1e-9)
    assert at == datetime.fromisoformat(body["on_site_at"])
    detail = module_owner.execute(
        "SELECT detail FROM citybrain.incident_events WHERE incident_id = %s AND action = 'handle'",
        [inc],
    ).fetchone()[0]
    assert detail == {"position": [lon, lat]}
    assert step(c, member, inc, "handle", lon=lon).status_code == 422  # lon without lat
    # 申请上报: asked once, with a reason; the dispatcher's escalation answers it.
    assert step(c, member, inc, "ask_escalation").status_code == 400
    body = ok(c, member, inc, "ask_escalation", reason="涉及多户，村里调解不了")
    assert body["escalation_asked"] == "涉及多户，村里调解不了"
    assert step(c, member, inc, "ask_escalation", reason="again").status_code == 409
    body = ok(c, people[DISPATCHER], inc, "escalate")
    assert body["escalation_asked"] is None and body["accepted_at"] is None
    assert body["team_id"] is None and body["tier"] == "town"


def test_my_tasks_are_my_teams_cases_in_hand(
    module_client, people, grid, far, module_owner
) -> None:
    c = module_client
    held = [dispatched(c, people, grid) for _ in range(3)]
    ok(c, people[grid["members"][0]], held[1], "handle")
    done = dispatched(c, people, grid)
    ok(c, people[grid["members"][0]], done, "handle")
    ok(c, people[grid["members"][0]], done, "report_done", note="已处理")
    for login in grid["members"]:
        tasks = c.get("/tasks", headers=people[login])
        assert tasks.status_code == 200
        expected = module_owner.execute(
            """SELECT id FROM citybrain.incidents
               WHERE team_id = %s AND status IN ('dispatched', 'on_site')
               ORDER BY severity DESC,
                        citybrain.step_due(category, 'resolve', reported_at,
                                           extension_minutes), id""",
            [grid["team"]],
        ).fetchall()
        got = tasks.json()
        assert [t["id"] for t in got] == [r[0] for r in expected]
        assert set(held) <= {t["id"] for t in got} and done not in {t["id"] for t in got}
        by_id = {t["id"]: t for t in got}
        assert [e["action"] for e in by_id[held[1]]["events"]] == ["report", "dispatch", "handle"]
        assert by_id[held[0]]["reporter_phone"] != "13800001111"  # masked for members
    assert all(
        t["team_id"] == far["team"]
        for t in c.get("/tasks", headers=people[far["members"][0]]).json()
    )
    assert held[0] not in {
        t["id"] for t in c.get("/tasks", headers=people[far["members"][0]]).json()
    }
    assert c.get("/tasks", headers=people[DISPATCHER]).json() == []


# --- patrols --------------------------------------------------------------------------------


def test_a_patrol_becomes_a_track(module_client, people, grid, module_owner) -> None:
    c, member = module_client, people[grid["members"][0]]
    walk = road_walk(module_owner, grid["grid"])
    t0 = clock.now(Settings()) - timedelta(minutes=30)
    points = [
        {"at": (t0 + timedelta(seconds=20 * i)).isoformat(), "lon": x, "lat": y, "accuracy_m": 5}
        for i, (x, y) in enumerate(walk)
    ]
    key = "patrol-test-0001"
    module_owner.execute(  # (the team's last position: before the patrol)
        "UPDATE citybrain.teams SET position_at = %s WHERE id = %s",
        [t0 - timedelta(hours=1), grid["team"]],
    )
    r = c.put(f"/patrols/{key}", json={"started_at": t0.isoformat()}, headers=member)
    assert r.status_code == 201, r.text
    assert c.put(f"/patrols/{key}", json={}, headers=member).status_code == 200
    half = len(points) // 2
    assert c.post(
        f"/patrols/{key}/points", json={"points": points[:half]}, headers=member
    ).json() == {
        "added": half,
        "sent": half,
    }
    # The batch sent again (its answer was lost) and the rest: each point once.
    r = c.post(f"/patrols/{key}/points", json={"points": points}, headers=member)
    assert r.json() == {"added": len(points) - half, "sent": len(points)}
    x, y, at = module_owner.execute(
        "SELECT ST_X(geom), ST_Y(geom), position_at FROM citybrain.teams WHERE id = %s",
        [grid["team"]],
    ).fetchone()
    assert (x, y) == pytest.approx(walk[-1], abs=1e-9)
    assert at == datetime.fromisoformat(points[-1]["at"])
    # A point outside the county moves no team; one from a phone whose clock runs ahead is
    # stamped now, not in the future (where it would hold back the positions after it).
    ahead = clock.now(Settings()) + timedelta(minutes=3)
    for i, (x_, y_) in enumerate([(100.0, 20.0), walk[0]]):
        late = {"at": (ahead + timedelta(seconds=i)).isoformat(), "lon": x_, "lat": y_}
        r = c.post(f"/patrols/{key}/points", json={"points": [late]}, headers=member)
        assert r.json() == {"added": 1, "sent": 1}
        x2, at2 = module_owner.execute(
            "SELECT ST_X(geom), position_at FROM citybrain.teams WHERE id = %s", [grid["team"]]
        ).fetchone()
        if i == 0:
            assert (x2, at2) == (pytest.approx(x, abs=1e-9), at)
        else:
            assert x2 == pytest.approx(walk[0][0], abs=1e-9)
            assert at < at2 <= clock.now(Settings()) < ahead
    module_owner.execute("DELETE FROM citybrain.patrol_points WHERE at >= %s", [ahead])
    # Dispatch times the team from there, and says how old that position is.
    advice = c.post(
        "/dispatch/recommend",
        json={"lon": grid["lon"], "lat": grid["lat"], "category": "矛盾纠纷"},
        headers=people[DISPATCHER],
    ).json()
    mine = next(t for t in advice["teams"] if t["id"] == grid["team"])
    assert datetime.fromisoformat(mine["position_at"]) == at2
    end = c.post(f"/patrols/{key}/end", json={}, headers=member)
    assert end.status_code == 200, end.text
    patrol = end.json()
    walked = sum(GEOD.inv(a[0], a[1], b[0], b[1])[2] for a, b in zip(walk, walk[1:], strict=False))
    assert patrol["points"] == len(walk)
    assert patrol["length_m"] == pytest.approx(walked, rel=0.01)
    got = [v for p in patrol["track"]["coordinates"] for v in p]
    assert got == pytest.approx([v for p in walk for v in p], abs=1e-7)
    # The share of the grid's roads walked, from shapely in metres (UTM 50N).
    utm = Transformer.from_crs(4326, 32650, always_xy=True).transform
    rows = module_owner.execute(
        """SELECT ST_AsBinary(ST_Intersection(r.geom, g.geom)) FROM citybrain.roads r
           JOIN citybrain.grids g ON g.id = %s WHERE ST_Intersects(r.geom, g.geom)""",
        [grid["grid"]],
    ).fetchall()
    roads = [transform(utm, wkb.loads(bytes(r[0]))) for r in rows]
    near = transform(utm, LineString(walk)).buffer(20)
    share = sum(r.intersection(near).length for r in roads) / sum(r.length for r in roads)
    assert patrol["roads_share"] == pytest.approx(share, abs=0.02)
    assert 0 < patrol["roads_share"] <= 1
    # Ended: no more points; its end sent again is the same patrol.
    more = {"points": [{**points[-1], "at": (t0 + timedelta(hours=1)).isoformat()}]}
    assert c.post(f"/patrols/{key}/points", json=more, headers=member).status_code == 409
    assert c.post(f"/patrols/{key}/end", json={}, headers=member).json() == patrol
    # A patrol is its member's: another member and a dispatcher do not reach it.
    assert c.get(f"/patrols/{key}", headers=people[grid["members"][1]]).status_code == 404
    assert c.put(f"/patrols/{key}", json={}, headers=people[DISPATCHER]).status_code == 403
    assert c.get(f"/patrols/{key}", headers=auth("dispatcher")).status_code == 403


def test_patrol_bad_input(module_client, people, grid) -> None:
    c, member = module_client, people[grid["members"][0]]
    assert c.put("/patrols/short", json={}, headers=member).status_code == 422
    assert (
        c.post(
            "/patrols/no-such-patrol/points",
            json={"points": [{"at": "2026-11-20T09:00:00+08:00", "lon": 120, "lat": 30}]},
            headers=member,
        ).status_code
        == 404
    )
    key = "patrol-test-0002"
    start = clock.now(Settings()) - timedelta(minutes=5)
    assert (
        c.put(f"/patrols/{key}", json={"started_at": start.isoformat()}, headers=member).status_code
        == 201
    )
    future = (clock.now(Settings()) + timedelta(hours=2)).isoformat()
    r = c.post(
        f"/patrols/{key}/points",
        json={"points": [{"at": future, "lon": 120, "lat": 30}]},
        headers=member,
    )
    assert r.status_code == 400 and "future" in r.json()["detail"]
    r = c.post(f"/patrols/{key}/points", json={"points": []}, headers=member)
    assert r.status_code == 422
    r = c.post(
        f"/patrols/{key}/points",
        json={"points": [{"at": start.isoformat(), "lon": 200, "lat": 30}]},
        headers=member,
    )
    assert r.status_code == 422
    # Ended with fewer than two points: no track, no length walked.
    end = c.post(f"/patrols/{key}/end", json={}, headers=member).json()
    assert (end["track"], end["length_m"], end["points"]) == (None, 0, 0)


def test_a_member_cannot_act_on_another_teams_case(module_client, people, grid, far) -> None:
    c = module_client
    inc = dispatched(c, people, grid)
    outsider = people[far["members"][0]]  # another town's member: the case is not in view
    for name, body in (("accept", {}), ("handle", {}), ("return", {"reason": "不是我们的"})):
        r = step(c, outsider, inc, name, **body)
        assert r.status_code == 404 and "in your area" in r.json()["detail"]
    assert c.get(f"/incidents/{inc}", headers=outsider).status_code == 404


# --- the app's files ------------------------------------------------------------------------


def test_the_app_is_installable_and_its_files_are_served_as_such(module_client) -> None:
    c = module_client
    page = c.get("/field/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert c.get("/field", follow_redirects=False).headers["location"] == "/field/"
    manifest = c.get("/field/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    m = manifest.json()
    assert (m["start_url"], m["scope"], m["display"], m["lang"]) == (
        "/field/",
        "/field/",
        "standalone",
        "zh-CN",
    )
    assert c.get(m["icons"][0]["src"]).headers["content-type"] == "image/svg+xml"
    worker = c.get("/field/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    # Sent gzipped to a phone that takes it so; not sent again to one that has it.
    plain = c.get("/field/maplibre-gl.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    packed = c.get("/field/maplibre-gl.js", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.content == plain.content
    assert int(packed.headers["content-length"]) < len(plain.content) / 3
    again = c.get("/field/app.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 200  # (another file's tag)
    etag = c.get("/field/app.js").headers["etag"]
    assert c.get("/field/app.js", headers={"If-None-Match": etag}).status_code == 304
    # Only the app's own files: nothing else of the package, by any path.
    for path in ("/field/field.py", "/field/..%2F..%2Fsettings%2F__init__.py", "/field/.env"):
        assert c.get(path).status_code == 404


def test_an_unattached_photo_is_its_senders_alone(module_client, people, grid) -> None:
    c = module_client
    pid = photo_id(c, people[grid["members"][0]], "not attached yet")
    assert c.get(f"/photos/{pid}", headers=people[grid["members"][0]]).status_code == 200
    for login in (grid["members"][1], DISPATCHER):  # the same grid, the town: not yet
        assert c.get(f"/photos/{pid}", headers=people[login]).status_code == 404


def test_a_refused_step_leaves_its_key_free(module_client, people, grid, module_owner) -> None:
    c, member = module_client, people[grid["members"][0]]
    inc = dispatched(c, people, grid)
    key = {**member, "Idempotency-Key": "phone-step-refused"}
    r = c.post(f"/incidents/{inc}/steps/report_done", json={"note": "早了"}, headers=key)
    assert r.status_code == 409  # (not on site yet): refused, nothing kept of the key
    assert module_owner.execute(
        "SELECT count(*) FROM citybrain.idempotency_keys WHERE key = 'phone-step-refused'"
    ).fetchone() == (0,)
    ok(c, member, inc, "handle")
    r = c.post(f"/incidents/{inc}/steps/report_done", json={"note": "早了"}, headers=key)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert "Idempotent-Replayed" not in r.headers


def test_times_without_a_zone_and_bodies_without_a_length_are_refused(
    module_client, people, grid
) -> None:
    c, member = module_client, people[grid["members"][0]]
    naive = {"started_at": "2026-11-20T09:00:00"}
    r = c.put("/patrols/patrol-test-naive", json=naive, headers=member)
    assert r.status_code == 422 and "timezone" in r.text.lower()
    r = send(c, member, jpeg("naive"), taken_at="2026-11-20T09:00:00")
    assert r.status_code == 422

    def chunks():
        yield jpeg("chunked")

    r = c.post("/photos", content=chunks(), headers={**member, "Content-Type": "image/jpeg"})
    assert r.status_code == 411 and "Content-Length" in r.json()["detail"]
