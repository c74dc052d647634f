"""The big screen's alerts panel (预警) in a real headless Chromium, every request outside this
machine blocked: the open alerts that real detector runs raised are listed newest first, with a
scan's recurrence interval; a click on one fits the map to its area and lists its incidents in
the card and on the map; an alert raised while the screen is open arrives through ``/events``
without a reload. A screenshot goes to test-output/."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime

import httpx
import psycopg
import pytest
from playwright.sync_api import Page
from shapely.geometry import shape

from citybrain.alerts import Detector
from citybrain.alerts.runner import run_detector
from citybrain.db.connection import libpq_conninfo
from tests.utils.browser import OUTPUT, open_screen, wait_idle
from tests.utils.server import LiveServer, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

TITLE = {"zh": "测试", "en": "test"}
WINDOW_H = 24 * 31  # the longest window a count rule may have: about 1,700 of the incidents
MARKUP = '<b class="injected">&amp;</b>'
OPEN = "/alerts?status=new&status=acknowledged&status=dispatched&snoozed=false&limit=100"


def count_rule(at_least: int) -> Detector:
    return Detector.model_validate(
        {
            "id": "rule_test",
            "title": TITLE,
            "kind": "rule",
            "rule": "count",
            "areas": "compounds",
            "window_hours": WINDOW_H,
            "at_least": at_least,
            "by_category": False,
        }
    )


def scan_security() -> Detector:
    """The scan of 治安 as a daily run would have it (999 replicates: p down to 0.001)."""
    return Detector.model_validate(
        {
            "id": "scan_test",
            "title": TITLE,
            "kind": "scan",
            "areas": "compounds",
            "every": "1d",
            "study_days": 90,
            "windows_hours": [24, 72, 168],
            "replications": 999,
            "min_recurrence_days": 100,
            "min_cases": 4,
            "categories": ["治安"],
        }
    )


def busy_compounds(conn: psycopg.Connection, now: datetime, at_least: int) -> dict[str, dict]:
    """The oracle of the count rule: compounds with ``at_least`` incidents or more in the
    window, by code, with the name an alert gives them (town · compound, through the
    hierarchy) and their incidents."""
    rows = conn.execute(
        "SELECT c.code, t.name || ' · ' || c.name, array_agg(i.id ORDER BY i.id) "
        "FROM citybrain.incidents i JOIN citybrain.micro_grid_chain ch USING (micro_grid_id) "
        "JOIN citybrain.compounds c ON c.id = ch.compound_id "
        "JOIN citybrain.towns t ON t.id = ch.town_id "
        "WHERE i.reported_at >= %s - make_interval(hours => %s) AND i.reported_at < %s "
        "GROUP BY c.code, t.name, c.name HAVING count(*) >= %s",
        [now, WINDOW_H, now, at_least],
    ).fetchall()
    return {code: {"name": name, "ids": ids} for code, name, ids in rows}


def handful(conn: psycopg.Connection, now: datetime) -> int:
    """The smallest count of incidents in the window that between 2 and 10 compounds reach:
    read from the data, not assumed of the seed."""
    counts = [
        n
        for (n,) in conn.execute(
            "SELECT count(*) FROM citybrain.incidents i "
            "JOIN citybrain.micro_grid_chain ch USING (micro_grid_id) "
            "WHERE i.reported_at >= %s - make_interval(hours => %s) AND i.reported_at < %s "
            "GROUP BY ch.compound_id",
            [now, WINDOW_H, now],
        )
    ]
    for at_least in sorted(set(counts)):
        if 2 <= sum(n >= at_least for n in counts) <= 10:
            return at_least
    raise AssertionError(f"no count is reached by 2 to 10 compounds: {sorted(counts)[-12:]}")


# Two English words in a row: English prose; and a Chinese character.
SENTENCE = re.compile(r"[A-Za-z]{2,}(?: [A-Za-z]{2,})+")
CJK = re.compile(r"[\u4e00-\u9fff]")


def panel(page: Page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('#alerts-list li')].map((li) => ({
        id: Number(li.dataset.id),
        area: li.querySelector('.alert-area').textContent,
        summary: li.querySelector('.alert-summary').textContent,
        text: li.innerText,
        on: li.classList.contains('on'),
    }))""")


def plant_cluster(conn: psycopg.Connection, now: datetime) -> int:
    """Eight 治安 in one micro-grid in the last eight hours (the scan's quarry); its id."""
    micro = conn.execute("SELECT id FROM citybrain.micro_grids ORDER BY id OFFSET 1234 LIMIT 1")
    micro_id = micro.fetchone()[0]
    conn.execute(
        "INSERT INTO citybrain.incidents (category, source, severity, status, tier, "
        "reported_at, updated_at, geom) SELECT '治安', 'grid_patrol', 2, 'reported', 'village', "
        "%(now)s - make_interval(hours => g), %(now)s - make_interval(hours => g), "
        "ST_PointOnSurface(m.geom) FROM citybrain.micro_grids m, generate_series(1, 8) g "
        "WHERE m.id = %(id)s",
        {"now": now, "id": micro_id},
    )
    return micro_id


def test_the_alerts_panel(browser, fresh_county: str) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        now = conn.execute(
            "SELECT max(reported_at) + interval '1 second' FROM citybrain.incidents"
        ).fetchone()[0]
        plant_cluster(conn, now)
        at_least = handful(conn, now)
        # A name that is also markup: the screen must show it as text.
        conn.execute(
            "UPDATE citybrain.compounds SET name = name || %s WHERE code = %s",
            [MARKUP, min(busy_compounds(conn, now, at_least))],
        )
        assert run_detector(conn, scan_security(), now).raised == 1
        assert run_detector(conn, count_rule(at_least), now).raised > 0
        busy = busy_compounds(conn, now, at_least)
        assert 2 <= len(busy) <= 10, len(busy)  # a handful, or the test says little
        assert sum(MARKUP in b["name"] for b in busy.values()) == 1

        with (
            LiveServer(server_settings(fresh_county)) as live,
            live.client() as api,
        ):
            listed = api.get(OPEN).json()
            rules = [a for a in listed if a["detector"] == "rule_test"]
            scans = [a for a in listed if a["detector"] == "scan_test"]
            assert len(listed) == len(rules) + len(scans) and len(scans) == 1
            # The API agrees with the oracle: one alert per busy compound, its incidents.
            assert sorted(c for a in rules for c in a["area_codes"]) == sorted(busy)
            for a in rules:
                assert a["observed"] == len(busy[a["area_codes"][0]]["ids"])
            # Said in Chinese (no English sentence on the screen), in English on ?lang=en.
            sep = "&" if "?" in OPEN else "?"
            english = api.get(f"{OPEN}{sep}lang=en").json()
            assert [a["id"] for a in english] == [a["id"] for a in listed]
            for zh, en in zip(listed, english, strict=True):
                assert CJK.search(zh["summary"]) and not SENTENCE.search(zh["summary"]), zh
                assert SENTENCE.search(en["summary"]), en  # (its names stay Chinese)

            page, outside = open_screen(browser, live.url, 120.91, 30.87, 10)
            page.wait_for_function("window.citybrain.alerts !== null", timeout=10_000)

            # The panel lists exactly the open alerts, newest first, as the API does.
            shown = panel(page)
            assert [e["id"] for e in shown] == [a["id"] for a in listed]
            assert [(e["area"], e["summary"]) for e in shown] == [
                (a["area_name"], a["summary"]) for a in listed
            ]
            assert Counter(e["area"] for e in shown if e["id"] != scans[0]["id"]) == Counter(
                b["name"] for b in busy.values()
            )
            assert page.locator("#alerts-count").inner_text() == str(len(listed))
            assert page.locator(".injected").count() == 0
            assert page.locator("#alerts-empty").is_hidden()
            # Only the scan has a recurrence interval.
            for entry, alert in zip(shown, listed, strict=True):
                if alert["kind"] == "scan":
                    assert f"约 {round(alert['recurrence_days']):,} 天一遇" in entry["text"]
                    assert "时空扫描" in entry["text"] and "治安" in entry["text"]
                else:
                    assert "天一遇" not in entry["text"] and "规则" in entry["text"]
                assert "新预警" in entry["text"]

            # A click on the first: the map moves onto its area, the card lists its incidents.
            first = listed[0]
            assert first["detector"] == "rule_test"  # raised last
            west, south, east, north = shape(first["geometry"]).bounds

            def centre() -> tuple[float, float]:
                c = page.evaluate(
                    "(() => { const c = window.citybrain.map.getCenter(); "
                    "return [c.lng, c.lat]; })()"
                )
                return c[0], c[1]

            lon, lat = centre()
            assert not (west <= lon <= east and south <= lat <= north)  # it has to move
            page.click(f"#alerts-list li[data-id='{first['id']}']")
            page.wait_for_function(
                f"window.citybrain.state.alertCard === {first['id']} && "
                "!window.citybrain.map.isMoving()",
                timeout=10_000,
            )
            lon, lat = centre()
            assert west <= lon <= east and south <= lat <= north, (lon, lat, west, south, east)
            assert page.evaluate("window.citybrain.map.getZoom()") > 13  # a compound, close up
            detail = api.get(f"/alerts/{first['id']}").json()
            expected_ids = busy[first["area_codes"][0]]["ids"]
            assert sorted(i["id"] for i in detail["incident_list"]) == expected_ids
            card_ids = page.evaluate(
                "[...document.querySelectorAll('#card-body li[data-id]')]"
                ".map((li) => Number(li.dataset.id))"
            )
            assert card_ids == [i["id"] for i in detail["incident_list"]]
            card = page.locator("#card-body").inner_text()
            assert first["area_name"] in card and f"事件 ({len(expected_ids)})" in card
            assert page.locator("#card").is_visible()
            assert page.locator(".injected").count() == 0
            assert shown[0]["on"] is False and panel(page)[0]["on"] is True

            # On the map: the incidents as points, the area outlined, and the alerts layer.
            wait_idle(page)
            drawn = page.evaluate("""() => {
                const m = window.citybrain.map;
                const ids = (layers) => m.queryRenderedFeatures({layers})
                    .map((f) => f.properties.id ?? f.id);
                const alerts = m.getStyle().layers.filter((l) => l['source-layer'] === 'alerts')
                    .map((l) => l.id);
                return {points: ids(['alert-incidents']), outline: ids(['alert-selected']),
                        layer: ids(alerts)};
            }""")
            assert sorted(set(drawn["points"])) == expected_ids
            assert set(drawn["outline"]) == {first["id"]}
            assert first["id"] in drawn["layer"]

            # An alert raised while the screen is open arrives without a reload.
            page.evaluate("window.notReloaded = true")
            loads = page.evaluate("window.citybrain.state.alertLoads")
            raised_at = time.monotonic()
            assert run_detector(conn, count_rule(at_least - 1), now).raised > 0
            busier = busy_compounds(conn, now, at_least - 1)
            assert len(busy) < len(busier) <= 50, len(busier)  # (the panel lists 100)
            page.wait_for_function(
                f"window.citybrain.alerts.length === {len(busier) + 1}", timeout=5000
            )
            assert time.monotonic() - raised_at < 5
            assert page.evaluate("window.notReloaded === true")
            assert page.evaluate("window.citybrain.state.alertEvents") >= len(busier) - len(busy)
            assert page.evaluate("window.citybrain.state.alertLoads") > loads
            now_listed = api.get(OPEN).json()
            shown = panel(page)
            assert [e["id"] for e in shown] == [a["id"] for a in now_listed]
            new = [a for a in now_listed if a["id"] not in {b["id"] for b in listed}]
            assert sorted(c for a in new for c in a["area_codes"]) == sorted(
                set(busier) - set(busy)
            )
            assert [e["area"] for e in shown[: len(new)]] == [a["area_name"] for a in new]
            # The chosen alert stays chosen.
            assert [e["id"] for e in shown if e["on"]] == [first["id"]]

            # The alert whose name is also markup: its card shows the name as text.
            marked = next(a for a in now_listed if MARKUP in a["area_name"])
            page.click(f"#alerts-list li[data-id='{marked['id']}']")
            page.wait_for_function(
                f"window.citybrain.state.alertCard === {marked['id']}", timeout=10_000
            )
            heading = page.locator("#card-body h2").first.text_content()
            assert heading == f"预警 · {marked['area_name']}"
            assert page.locator(".injected").count() == 0

            OUTPUT.mkdir(exist_ok=True)
            page.evaluate("window.citybrain.map.zoomTo(15, {duration: 0})")
            wait_idle(page)
            page.screenshot(path=str(OUTPUT / "big-screen-alerts.png"))
            assert outside == [], outside  # nothing left this machine
            page.close()


def test_no_open_alerts_says_so(browser, server) -> None:
    """The read-only county has no alerts: the panel says so (and lists nothing)."""
    assert httpx.get(f"{server.url}{OPEN}").json() == []
    page, outside = open_screen(browser, server.url, 120.91, 30.87, 10)
    page.wait_for_function("window.citybrain.alerts !== null", timeout=10_000)
    assert page.evaluate("window.citybrain.alerts") == []
    assert page.locator("#alerts-list li").count() == 0
    assert page.locator("#alerts-empty").is_visible()
    assert "暂无" in page.locator("#alerts-empty").inner_text()
    assert page.locator("#alerts-count").inner_text() == "0"
    # Chinese first: no English prose anywhere on the default screen (layers, panels, cards).
    page.wait_for_function("window.citybrain.ready", timeout=60_000)
    shown = page.evaluate("() => document.body.innerText")
    assert CJK.search(shown) and SENTENCE.findall(shown) == []
    assert outside == []
    page.close()
