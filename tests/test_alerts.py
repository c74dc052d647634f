"""Early warning end to end on a real PostGIS and a real server: the scan finds the outbreaks
``seed --outbreaks`` put in (right compound, right incidents) and nothing in the quiet county;
a rule fires once when its condition becomes true, live on ``/events``; alerts grow instead of
repeating; the lifecycle's permissions and audit trail; alerts as a map layer; dispatch says
when a point lies inside an open alert."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import mapbox_vector_tile
import mercantile
import psycopg
import pytest
import shapely
from shapely.geometry import shape

from citybrain.alerts import Detector, load_detectors
from citybrain.alerts.runner import AlertRunner, run_detector
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.synth import build_county
from tests.utils.cli import citybrain
from tests.utils.county import N_INCIDENTS, SEED, SEED_END, now, point_in
from tests.utils.databases import clone_database, sibling, template
from tests.utils.events import Stream
from tests.utils.keys import auth
from tests.utils.server import LiveServer, server_settings

TITLE = {"zh": "测试", "en": "test"}


def detector(**fields) -> Detector:
    return Detector.model_validate({"title": TITLE, **fields})


def scan(*categories: str) -> Detector:
    """The scan as a daily run would have it, one analysis per category (999 replicates reach
    p = 0.001; an alert at a recurrence interval of 100 days over K categories is
    p ≤ 0.01 / K)."""
    return detector(
        id="scan_test",
        kind="scan",
        areas="compounds",
        every="1d",
        study_days=90,
        windows_hours=[24, 72, 168],
        replications=999,
        min_recurrence_days=100,
        min_cases=4,
        categories=list(categories) or None,
    )


def busy_threshold(conn: psycopg.Connection) -> int:
    """A count of incidents in the 30 days before the seed's end that at least three compounds
    reach: read from the data, not assumed of the seed."""
    (n,) = conn.execute(
        "SELECT count(*) FROM citybrain.incidents i "
        "JOIN citybrain.micro_grid_chain ch USING (micro_grid_id) "
        "WHERE i.reported_at >= %s AND i.reported_at < %s "
        "GROUP BY ch.compound_id ORDER BY 1 DESC LIMIT 1 OFFSET 2",
        [SEED_END - timedelta(days=30), SEED_END],
    ).fetchone()
    assert n >= 3  # (a threshold a few incidents cannot reach by themselves)
    return n


def count_rule(**fields) -> Detector:
    return detector(
        **{
            "id": "rule_test",
            "kind": "rule",
            "rule": "count",
            "areas": "compounds",
            "window_hours": 24,
            "at_least": 3,
            "categories": ["治安"],
        }
        | fields
    )


def _seed_with_outbreaks(url: str) -> None:
    build_county(get_engine(url), n_incidents=N_INCIDENTS, seed=SEED, end=SEED_END, outbreaks=6)


@pytest.fixture(scope="module")
def outbreak_county(db_url: str) -> str:
    """The seeded county again, with six outbreaks injected (and their ground truth): seeded
    once for this code (a template), copied for this module."""
    made = template("_tpl_outbreaks", _seed_with_outbreaks, SEED, N_INCIDENTS, str(SEED_END), 6)
    url = sibling(db_url, "_outbreaks")
    clone_database(made, url)
    return url


def test_seed_records_its_outbreaks(outbreak_county: str) -> None:
    with psycopg.connect(libpq_conninfo(outbreak_county)) as conn:
        truth = conn.execute(
            "SELECT o.id, o.size, o.started_at, o.ended_at, o.category, o.compound_code, "
            "(SELECT count(*) FROM citybrain.incidents i JOIN citybrain.micro_grid_chain ch "
            " USING (micro_grid_id) JOIN citybrain.compounds c ON c.id = ch.compound_id "
            " WHERE i.id = ANY (o.incident_ids) AND c.code = o.compound_code "
            " AND i.category = o.category AND i.reported_at BETWEEN o.started_at AND o.ended_at)"
            ", (SELECT count(*) FROM citybrain.incidents) FROM citybrain.outbreaks o ORDER BY id"
        ).fetchall()
    assert [r[1] for r in truth] == [6, 10, 16, 24, 6, 10]
    # Every recorded incident is where and when and what the outbreak says.
    assert all(r[6] == r[1] for r in truth)
    assert truth[0][7] == N_INCIDENTS + sum(r[1] for r in truth)
    assert all(SEED_END - timedelta(days=60) <= r[2] <= r[3] <= SEED_END for r in truth)


def test_scan_finds_each_injected_outbreak(outbreak_county: str) -> None:
    with psycopg.connect(libpq_conninfo(outbreak_county), autocommit=True) as conn:
        truth = conn.execute(
            "SELECT o.id, o.category, o.compound_code, o.ended_at, o.incident_ids, "
            "ST_X(o.geom), ST_Y(o.geom), (SELECT ST_AsText(geom) FROM citybrain.compounds "
            "WHERE code = o.compound_code) FROM citybrain.outbreaks o ORDER BY o.id"
        ).fetchall()
        for _, category, code, ended, ids, _x, _y, compound_wkt in truth:
            now = ended + timedelta(minutes=1)
            # Two analyses (the outbreak's category and another): the recurrence interval is
            # the detector's, over both.
            other = "环境" if category != "环境" else "交通"
            run_detector(conn, scan(category, other), now)
            found = conn.execute(
                "SELECT area_codes, incident_ids, ST_AsText(geom), recurrence_days, p_value "
                "FROM citybrain.alerts WHERE detector = 'scan_test' AND category = %s "
                "AND %s = ANY (area_codes)",
                [category, code],
            ).fetchall()
            assert len(found) == 1, (code, category)
            codes, alert_ids, wkt, recurrence, p = found[0]
            # Most of the outbreak's incidents are in the alert (a cluster found early may
            # lack a few; the window may hold neighbours' cases too).
            assert len(set(ids) & set(alert_ids)) >= 0.8 * len(ids)
            # The alert's area covers the compound (shapely on the two geometries).
            area, compound = shapely.from_wkt(wkt), shapely.from_wkt(compound_wkt)
            assert area.buffer(1e-7).contains(compound)
            assert recurrence == pytest.approx(1 / (2 * p)) and recurrence >= 100


def test_quiet_county_raises_no_scan_alert(fresh_county: str) -> None:
    """The county without outbreaks, scanned with the shipped detector (ten categories hourly,
    an alert at a recurrence interval of 30 days: p ≤ 1/7200 in one of them) at ten times over
    the last month: 100 category-runs, where chance alone would raise an alert once in 72."""
    shipped = load_detectors(Path(__file__).resolve().parents[1] / "alerts")["scan_compounds"]
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        runs = [
            run_detector(conn, shipped, SEED_END - timedelta(days=d, hours=7 * d))
            for d in range(0, 30, 3)
        ]
        alerts = conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0]
    assert alerts == 0 and [r.found for r in runs] == [0] * 10


def test_rule_fires_once_when_it_becomes_true_and_live(fresh_county: str, tmp_path: Path) -> None:
    """The server's own runner, on change: two 治安 in a compound raise nothing, the third
    raises one alert within seconds (pushed on /events), a fourth grows the same alert."""
    (tmp_path / "rule_test.yaml").write_text(
        "id: rule_test\ntitle: {zh: 测试, en: test}\nkind: rule\nrule: count\n"
        "categories: [治安]\nareas: compounds\nwindow_hours: 24\nat_least: 3\nevery: 1h\n"
        "on_change: true\n",
        encoding="utf-8",
    )
    settings = server_settings(
        fresh_county, alerts_run=True, alerts_dir=tmp_path, alerts_tick_s=0.5
    )
    with (
        psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn,
        LiveServer(settings) as live,
        live.client() as api,
    ):
        micro, compound = conn.execute(
            "SELECT m.id, c.code FROM citybrain.micro_grids m "
            "JOIN citybrain.compounds c ON c.id = m.compound_id ORDER BY m.id OFFSET 500 LIMIT 1"
        ).fetchone()
        lon, lat = point_in(conn, micro)
        stream = Stream(live.url, lambda got: len(got) >= 2, events=("alert",))

        def report() -> int:
            r = api.post(
                "/incidents",
                headers=auth("dispatcher"),
                json={"lon": lon, "lat": lat, "category": "治安"},
            )
            assert r.status_code == 201, r.text
            return r.json()["id"]

        ids = [report(), report()]
        time.sleep(3)  # the runner has run on both changes by now
        assert api.get("/alerts").json() == []
        ids.append(report())
        alerts = _wait(lambda: api.get("/alerts").json())
        assert len(alerts) == 1
        first = alerts[0]
        assert (first["area_codes"], first["observed"], first["status"]) == ([compound], 3, "new")
        listed = api.get(f"/alerts/{first['id']}").json()["incident_list"]
        assert sorted(i["id"] for i in listed) == sorted(ids)
        assert {(i["category"], i["status"]) for i in listed} == {("治安", "reported")}
        ids.append(report())
        grown = _wait(lambda: [a for a in api.get("/alerts").json() if a["observed"] == 4])
        assert [(a["id"], a["incidents"]) for a in grown] == [(first["id"], 4)]
        detail = api.get(f"/alerts/{first['id']}").json()
        assert sorted(i["id"] for i in detail["incident_list"]) == sorted(ids)
        got = stream.join(20)
        assert [(p["id"], p["change"], p["observed"]) for _, p in got[:2]] == [
            (first["id"], "new", 3),
            (first["id"], "update", 4),
        ]
        raised = conn.execute(
            "SELECT count(*) FROM citybrain.alert_events WHERE action = 'raise'"
        ).fetchone()[0]
        assert raised == 1


def _wait(probe, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("nothing within the deadline")


def test_alert_grows_then_passes(fresh_county: str) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        busy = busy_threshold(conn)
        rule = count_rule(window_hours=24 * 30, at_least=busy, categories=None, by_category=False)
        expected = dict(
            conn.execute(
                "SELECT c.code, count(*) FROM citybrain.incidents i "
                "JOIN citybrain.micro_grid_chain ch USING (micro_grid_id) "
                "JOIN citybrain.compounds c ON c.id = ch.compound_id "
                "WHERE i.reported_at >= %s AND i.reported_at < %s GROUP BY 1 HAVING count(*) >= %s",
                [SEED_END - timedelta(days=30), SEED_END, busy],
            ).fetchall()
        )
        assert len(expected) >= 3
        ran = run_detector(conn, rule, SEED_END)
        assert (ran.found, ran.raised) == (len(expected), len(expected))
        rows = conn.execute(
            "SELECT area_codes[1], observed, id FROM citybrain.alerts WHERE active"
        ).fetchall()
        assert {code: n for code, n, _ in rows} == expected
        # An hour later with the same data: the same alerts, nothing raised.
        again = run_detector(conn, rule, SEED_END + timedelta(hours=1))
        assert again.raised == 0
        assert conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0] == len(rows)
        # A run that misses them (here: a stricter threshold) lets them pass; found again
        # within the window's length, they are the same alerts, active again.
        run_detector(conn, count_rule(**{**rule.model_dump(), "at_least": 10_000}), SEED_END)
        assert conn.execute(
            "SELECT count(*) FILTER (WHERE active) FROM citybrain.alerts"
        ).fetchone() == (0,)
        back = run_detector(conn, rule, SEED_END + timedelta(hours=2))
        assert back.raised == 0
        assert sorted(
            r[0] for r in conn.execute("SELECT id FROM citybrain.alerts WHERE active")
        ) == sorted(r[2] for r in rows)
        # A month later, nothing is left in the window: every alert has passed, still open.
        run_detector(conn, rule, SEED_END + timedelta(days=31))
        assert conn.execute(
            "SELECT count(*) FILTER (WHERE active), count(*) FILTER (WHERE status = 'new') "
            "FROM citybrain.alerts"
        ).fetchone() == (0, len(rows))


def test_lifecycle_permissions_audit_layer_and_dispatch(fresh_county: str) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        busy = busy_threshold(conn)
        rule = count_rule(window_hours=24 * 30, at_least=busy, categories=None, by_category=False)
        run_detector(conn, rule, SEED_END)
        open_ids = [r[0] for r in conn.execute("SELECT id FROM citybrain.alerts ORDER BY id")]
        assert len(open_ids) >= 2
        with (
            LiveServer(server_settings(fresh_county)) as live,
            live.client() as api,
        ):
            one = open_ids[0]
            assert api.post(f"/alerts/{one}/ack").status_code == 401
            assert api.post(f"/alerts/{one}/ack", headers=auth("viewer")).status_code == 403
            r = api.post(f"/alerts/{one}/ack", headers=auth("dispatcher"), json={"note": "看到"})
            assert r.status_code == 200 and r.json()["status"] == "acknowledged"
            again = api.post(f"/alerts/{one}/ack", headers=auth("dispatcher"))
            assert again.status_code == 409 and again.json()["code"] == "conflict"
            assert (
                api.post(f"/alerts/{one}/dispatch", headers=auth("dispatcher")).status_code == 200
            )
            assert (
                api.post(f"/alerts/{one}/close", headers=auth("dispatcher")).json()["status"]
                == "closed"
            )
            assert api.post("/alerts/999999/close", headers=auth("dispatcher")).status_code == 404
            assert api.get(f"/alerts/{one}/events").status_code == 401
            trail = api.get(f"/alerts/{one}/events", headers=auth("viewer")).json()
            assert [(e["action"], e["to_status"], e["actor"]) for e in trail] == [
                ("raise", "new", "detector:rule_test"),
                ("ack", "acknowledged", "env-dispatcher-1"),
                ("dispatch", "dispatched", "env-dispatcher-1"),
                ("close", "closed", "env-dispatcher-1"),
            ]
            assert trail[1]["note"] == "看到"
            # Snooze: hidden from the screens' list until then.
            two = open_ids[1]
            past = {"until": "2020-01-01T00:00:00+08:00"}
            assert (
                api.post(f"/alerts/{two}/snooze", headers=auth("dispatcher"), json=past).status_code
                == 400
            )
            naive = {"until": "2099-01-01T00:00:00"}
            assert (
                api.post(
                    f"/alerts/{two}/snooze", headers=auth("dispatcher"), json=naive
                ).status_code
                == 422
            )
            later = (now() + timedelta(hours=1)).isoformat()
            r = api.post(f"/alerts/{two}/snooze", headers=auth("dispatcher"), json={"until": later})
            assert r.status_code == 200
            shown = [a["id"] for a in api.get("/alerts", params={"snoozed": "false"}).json()]
            assert two not in shown and one in shown
            still_open = [a["id"] for a in api.get("/alerts", params=[("status", "new")]).json()]
            assert sorted(still_open) == open_ids[1:]
            # The map layer holds the open alerts (not the closed one), with no personal data.
            items = api.get("/collections/alerts/items", params={"limit": 1000}).json()
            assert sorted(f["id"] for f in items["features"]) == open_ids[1:]
            assert items["numberMatched"] == len(open_ids) - 1
            # And in the layer's vector tile over it (zoom 14), with its properties.
            alert = api.get(f"/alerts/{open_ids[1]}").json()
            inside = shape(alert["geometry"]).representative_point()
            t = mercantile.tile(inside.x, inside.y, 14)
            tile = mapbox_vector_tile.decode(api.get(f"/tiles/alerts/14/{t.x}/{t.y}.mvt").content)[
                "alerts"
            ]["features"]
            drawn = {f["id"]: f["properties"] for f in tile}
            assert open_ids[1] in drawn and one not in drawn
            assert drawn[open_ids[1]]["area_name"] == alert["area_name"]
            # Dispatch says when a point lies inside an open alert.
            alert = api.get(f"/alerts/{open_ids[1]}").json()
            inside = shape(alert["geometry"]).representative_point()
            body = {"lon": inside.x, "lat": inside.y, "category": "治安"}
            rec = api.post("/dispatch/recommend", json=body, headers=auth("dispatcher")).json()
            assert [a["id"] for a in rec["alerts"]] == [open_ids[1]]
            closed = api.get(f"/alerts/{one}").json()
            inside = shape(closed["geometry"]).representative_point()
            body = {"lon": inside.x, "lat": inside.y, "category": "治安"}
            rec = api.post("/dispatch/recommend", json=body, headers=auth("dispatcher")).json()
            assert one not in [a["id"] for a in rec["alerts"]]
            # Filters: area code, kind, bbox.
            code = alert["area_codes"][0]
            assert [a["id"] for a in api.get("/alerts", params={"area": code}).json()] == [
                open_ids[1]
            ]
            assert api.get("/alerts", params={"kind": "scan"}).json() == []
            assert api.get("/alerts", params={"bbox": "1,2,3"}).status_code == 400
        # The audit trail is append-only, for the owner too.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE citybrain.alert_events SET note = 'x'")


def test_bad_detector_files_are_refused(tmp_path: Path) -> None:
    from citybrain.alerts import DetectorConfigError

    cases = {
        "kind: rule\nareas: compounds\n": "a rule needs rule",
        "kind: scan\nareas: parishes\n": "not an area level",
        "kind: scan\nevery: 10m\nreplications: 999\n": "can never show a recurrence interval",
        "kind: ears\ncategories: [盗窃]\n": "unknown category",
        "kind: scan\nevery: 0s\n": "every must be a positive duration",
        "kind: scan\nwindows_hours: [24]\nstudy_days: 7\nevery: 1d\n": None,
    }
    for body, message in cases.items():
        for old in tmp_path.glob("*.yaml"):
            old.unlink()
        (tmp_path / "d.yaml").write_text(f"id: d\ntitle: {{zh: x, en: x}}\n{body}")
        if message is None:
            assert list(load_detectors(tmp_path)) == ["d"]
            continue
        with pytest.raises(DetectorConfigError, match=message) as exc:
            load_detectors(tmp_path)
        assert "d.yaml" in str(exc.value)


def test_one_process_runs_the_detectors(fresh_county: str) -> None:
    """Two runners on one database (two server processes): the one holding the lock runs each
    due detector once; the other runs nothing until the first stops, then takes over."""
    rule = count_rule(window_hours=24 * 30, at_least=8, categories=None, by_category=False)
    conninfo = libpq_conninfo(fresh_county)
    first = AlertRunner(conninfo, {"rule_test": rule}, None)
    second = AlertRunner(conninfo, {"rule_test": rule}, None)
    with psycopg.connect(conninfo, autocommit=True) as conn:

        def runs() -> int:
            return conn.execute("SELECT count(*) FROM citybrain.detector_runs").fetchone()[0]

        first._tick(changed=False)
        second._tick(changed=False)
        assert (first.leader, second.leader, runs()) == (True, False, 1)
        first._tick(changed=False)  # not due again before its interval
        assert runs() == 1
        asyncio.run(first.stop())
        conn.execute("DELETE FROM citybrain.detector_runs")  # (as if its interval had passed)
        second._tick(changed=False)
        assert (second.leader, runs()) == (True, 1)
        asyncio.run(second.stop())


def test_the_alerts_command(fresh_county: str, tmp_path: Path) -> None:
    """``citybrain alerts run --at`` replays and stores nothing; without it the run is stored
    (and listed by ``alerts list``); a detector that is not there is refused by name."""
    env_dir = {"CITYBRAIN_ALERTS_DIR": str(tmp_path)}
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        busy = busy_threshold(conn)
        (tmp_path / "rule_test.yaml").write_text(
            "id: rule_test\ntitle: {zh: 测试, en: test}\nkind: rule\nrule: count\n"
            f"areas: compounds\nby_category: false\nwindow_hours: 720\nat_least: {busy}\n",
            encoding="utf-8",
        )
        expected = conn.execute(
            "SELECT count(*) FROM (SELECT ch.compound_id FROM citybrain.incidents i "
            "JOIN citybrain.micro_grid_chain ch USING (micro_grid_id) "
            "WHERE i.reported_at >= %s AND i.reported_at < %s GROUP BY 1 HAVING count(*) >= %s) s",
            [SEED_END - timedelta(days=30), SEED_END, busy],
        ).fetchone()[0]
        assert expected >= 3

        def stored() -> int:
            return conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0]

        # The seed's year ends 2026-11-01 08:00 UTC: 16:00 in Asia/Shanghai, a naive local time.
        replay = citybrain(fresh_county, "alerts", "run", "--at", "2026-11-01T16:00", env=env_dir)
        assert replay.returncode == 0, replay.stderr
        assert replay.stderr.count(f"{busy} 起及以上") == expected and stored() == 0
        bad = citybrain(fresh_county, "alerts", "run", "--detector", "nope", env=env_dir)
        assert bad.returncode == 2 and "no nope" in bad.stderr and "rule_test" in bad.stderr
        # Now (four weeks after the seed's year): nothing in the window, nothing raised.
        run = citybrain(fresh_county, "alerts", "run", env=env_dir)
        assert run.returncode == 0, run.stderr
        assert conn.execute("SELECT count(*) FROM citybrain.detector_runs").fetchone()[0] == 1
        run_detector(
            conn,
            count_rule(window_hours=720, at_least=busy, categories=None, by_category=False),
            SEED_END,
        )
        listed = citybrain(fresh_county, "alerts", "list", env=env_dir)
        assert (
            listed.returncode == 0 and listed.stderr.count(f"（规则：{busy} 起及以上）") == expected
        )
