"""The big screen in a real headless Chromium (Debian's), with every request outside this
machine blocked: layers render, live incidents arrive within 2 s, the drill-down card opens,
and the live stream survives a server restart; the screen and the API's documentation pages
work under their Content-Security-Policy without a violation. A screenshot goes to
test-output/."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest

from citybrain.settings import Settings
from tests.utils.browser import OUTPUT, open_page, open_screen, rendered, violations, wait_idle
from tests.utils.county import now, point_in
from tests.utils.keys import API_KEYS_SETTING, auth
from tests.utils.layers import LAYERS as GROUPS
from tests.utils.server import LiveServer

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips


def test_the_big_screen(browser, rw_server, rw_conn: psycopg.Connection) -> None:
    # A facility in a town centre: every layer has something in view around it.
    lon, lat = rw_conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM citybrain.facilities "
        "WHERE kind = 'party_service_centre' AND level = 'town' ORDER BY id LIMIT 1"
    ).fetchone()
    page, outside = open_screen(browser, rw_server.url, lon, lat, 15)
    page.click("#heat-window button[data-last='365d']")  # the test county's year ends in the past
    page.click("#heat-on")
    page.click("#hot-on")
    page.wait_for_function("window.citybrain.state.hotspots > 0", timeout=30_000)
    wait_idle(page)
    counts = rendered(page)
    for group in [*GROUPS, "heatmap"]:
        if group != "alerts":  # none in this county: tests/test_screen_alerts.py draws them
            assert counts.get(group, 0) > 0, (group, counts)
    assert page.locator("#k-today").inner_text() not in ("", "–")
    assert page.locator("#towns tbody tr").count() == 9

    # A new incident appears within 2 s, without reloading.
    with httpx.Client(base_url=rw_server.url) as api:
        posted = time.monotonic()
        r = api.post(
            "/incidents",
            headers=auth("dispatcher"),
            json={"lon": lon + 0.001, "lat": lat + 0.001, "category": "消防"},
        )
        new_id = r.json()["id"]
    page.wait_for_function(
        f"window.citybrain.state.ticker.some(i => i.id === {new_id}) && "
        f"window.citybrain.state.live.some(f => f.properties.id === {new_id})",
        timeout=2000,
    )
    assert time.monotonic() - posted < 2.5
    assert f"#{new_id}" in page.locator("#ticker-items").inner_text()

    # Drill down: a click on a grid opens its card.
    for group in ("teams", "cameras", "facilities", "incidents"):
        page.uncheck(f"#layers input[data-group={group}]")
    code, name, glon, glat = rw_conn.execute(
        "SELECT code, name, ST_X(p), ST_Y(p) FROM (SELECT code, name, ST_PointOnSurface(geom) p "
        "FROM citybrain.grids ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) "
        "LIMIT 1) s",
        [lon, lat],
    ).fetchone()
    page.evaluate("([lon, lat]) => window.citybrain.map.setZoom(14.5)", [glon, glat])
    page.evaluate("([lon, lat]) => window.citybrain.map.setCenter([lon, lat])", [glon, glat])
    wait_idle(page)
    x, y = page.evaluate(
        "([lon, lat]) => { const p = window.citybrain.map.project([lon, lat]); "
        "return [p.x, p.y]; }",
        [glon, glat],
    )
    page.mouse.click(x, y)
    page.wait_for_function("window.citybrain.cards > 0", timeout=10_000)
    card = page.locator("#card-body").inner_text()
    assert code in card and name in card and "人口" in card

    OUTPUT.mkdir(exist_ok=True)
    for group in ("teams", "cameras", "facilities", "incidents"):
        page.check(f"#layers input[data-group={group}]")
    wait_idle(page)
    page.screenshot(path=str(OUTPUT / "big-screen.png"))
    assert outside == [], outside  # nothing left this machine
    assert violations(page) == []  # the policy refused nothing the screen does
    page.close()


def test_names_are_drawn_once(browser, server) -> None:
    """Town and village names come from one label point per polygon: at a zoom where most
    villages cross tile edges, each name is on the screen once."""
    page, outside = open_screen(browser, server.url, 120.93, 30.86, 11.5)
    wait_idle(page)
    drawn = page.evaluate("""() => {
        const m = window.citybrain.map, out = {};
        for (const l of m.getStyle().layers.filter((l) => l.type === 'symbol')) {
            out[l['source-layer']] = m.queryRenderedFeatures({layers: [l.id]}).map((f) => f.id);
        }
        return out;
    }""")
    page.close()
    assert not outside
    for layer, least in (("villages_labels", 50), ("towns_labels", 5)):
        ids = drawn[layer]
        assert len(ids) >= least and len(set(ids)) == len(ids), (layer, len(ids), len(set(ids)))


NAMES = {
    "towns": "镇街",
    "villages": "村社区",
    "grids": "网格",
    "compounds": "小区/村民小组",
    "micro_grids": "微网格",
    "roads": "道路",
    "teams": "网格团队",
    "cameras": "视频监控",
    "facilities": "公共服务设施",
    "incidents": "事件",
    "alerts": "预警",
}


def _colours(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith(("#", "rgb", "hsl")) else []
    if isinstance(value, list):
        return [c for v in value for c in _colours(v)]
    return []


def test_the_legend_names_every_layer_in_its_colours(browser, server) -> None:
    """Every layer group of the style is in the legend by its Chinese name, each swatch one of
    the colours its style layers are drawn in; the heatmap's classes are its ramp's stops."""
    style = httpx.get(f"{server.url}/style.json").json()
    page, outside = open_screen(browser, server.url, 120.91, 30.87, 10)
    legend = page.evaluate("""() => [...document.querySelectorAll('#layers label')].map((l) => ({
        group: l.dataset.group, text: l.innerText.trim(),
        colours: [...l.querySelectorAll('.swatch')].map((i) => i.dataset.colour),
        painted: [...l.querySelectorAll('.swatch')].every((i) => i.style.background !== ''),
    }))""")
    heat = page.evaluate("""() => [...document.querySelectorAll('#heat-legend .heat-class')]
        .map((c) => [Number(c.dataset.value), c.dataset.colour])""")
    page.close()
    assert not outside
    groups = {y["source-layer"] for y in style["layers"] if y.get("source") == "citybrain"}
    groups = {g.removesuffix("_labels") for g in groups}
    assert {e["group"] for e in legend} == groups == set(GROUPS)
    for entry in legend:
        assert entry["text"] == NAMES[entry["group"]]
        drawn = [
            c
            for y in style["layers"]
            if y.get("source-layer") == entry["group"] and y["type"] != "symbol"
            for c in _colours(list(y.get("paint", {}).values()))
        ]
        assert entry["colours"] and set(entry["colours"]) <= set(drawn), entry
        assert entry["painted"]
    ramp = next(y for y in style["layers"] if y["id"] == "heatmap")["paint"]["fill-color"]
    assert heat == [[ramp[i], ramp[i + 1]] for i in range(3, len(ramp) - 1, 2)]


def test_live_stream_survives_a_restart(browser, rw_url: str, rw_conn) -> None:
    settings = Settings(database_url=rw_url, api_keys=API_KEYS_SETTING)
    first = LiveServer(settings).__enter__()
    port = first.port
    page, outside = open_screen(browser, first.url, 120.91, 30.85, 11)
    page.wait_for_function("document.getElementById('live').className === 'up'", timeout=10_000)
    first.__exit__(None, None, None)
    page.wait_for_function("document.getElementById('live').className === 'down'", timeout=10_000)
    with LiveServer(settings, port=port) as second, httpx.Client(base_url=second.url) as api:
        page.wait_for_function("document.getElementById('live').className === 'up'", timeout=15_000)
        lon, lat = point_in(rw_conn, 77)
        new_id = api.post(
            "/incidents",
            headers=auth("dispatcher"),
            json={"lon": lon, "lat": lat, "category": "治安"},
        ).json()["id"]
        page.wait_for_function(
            f"window.citybrain.state.ticker.some(i => i.id === {new_id})", timeout=2000
        )
    assert outside == []
    page.close()


def test_a_bulk_write_reloads_the_screen(browser, rw_server, rw_conn) -> None:
    """Sixty incidents in one statement: one ``bulk`` event, and the ticker reloads to show
    the newest of them (no sixty rings)."""
    page, outside = open_screen(browser, rw_server.url, 120.91, 30.85, 11)
    page.wait_for_function("document.getElementById('live').className === 'up'", timeout=10_000)
    ids = [
        r[0]
        for r in rw_conn.execute(
            "INSERT INTO citybrain.incidents (category, source, severity, status, tier, "
            "reported_at, updated_at, geom) SELECT category, source, severity, 'reported', tier, "
            "%s, %s, geom FROM citybrain.incidents WHERE id %% 89 = 0 ORDER BY id LIMIT 60 "
            "RETURNING id",
            [now(), now()],
        )
    ]
    page.wait_for_function("window.citybrain.state.bulks === 1", timeout=5000)
    page.wait_for_function(
        f"window.citybrain.state.ticker.some(i => i.id === {max(ids)})", timeout=5000
    )
    assert page.evaluate("window.citybrain.state.live.length") == 0
    rw_conn.execute("DELETE FROM citybrain.incidents WHERE id = ANY(%s)", [ids])
    assert outside == []
    page.close()


def test_one_window_drives_incidents_and_heatmap(browser, server) -> None:
    """The window buttons and the category move the incident layer and the heatmap together;
    the first full render at county zoom is recorded (test-output/first_render.txt)."""
    started = time.monotonic()
    page, outside = open_screen(browser, server.url, 120.91, 30.87, 10)
    wait_idle(page)
    first_render_s = time.monotonic() - started
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "first_render.txt").write_text(
        f"big screen at county zoom (z10), test county: first full render {first_render_s:.2f} s\n"
    )
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.click("#heat-on")
    page.click("#heat-window button[data-last='365d']")
    wait_idle(page)
    page.select_option("#heat-category", "治安")
    wait_idle(page)

    def tiles(kind: str, *words: str) -> list[str]:
        mark = "/tiles/heatmap/" if kind == "heatmap" else "/tiles/"
        return [
            u
            for u in asked
            if mark in u
            and (kind == "heatmap" or "/tiles/heatmap/" not in u)
            and all(w in u for w in words)
        ]

    assert tiles("incidents", "last=365d") and tiles("heatmap", "last=365d")
    category = "category=%E6%B2%BB%E5%AE%89"  # 治安
    assert tiles("incidents", "last=365d", category) and tiles("heatmap", "last=365d", category)
    shown = page.evaluate(
        "() => window.citybrain.map.queryRenderedFeatures({layers: "
        "window.citybrain.map.getStyle().layers.filter(l => l['source-layer'] === 'incidents')"
        ".map(l => l.id)}).map(f => f.properties)"
    )
    assert shown and all("h3" in p and p["count"] >= 1 for p in shown)  # clusters per cell
    assert outside == []
    page.close()


def test_the_api_documentation_pages(browser, server) -> None:
    """/docs and /redoc draw the API from this server's own copies of Swagger UI and ReDoc,
    with every other host blocked and no policy violation (issue 28)."""
    page, outside = open_page(browser, server.url, "/docs")
    locate = page.locator(".opblock-summary-path[data-path='/locate']")
    locate.wait_for(timeout=60_000)
    assert page.locator(".info .title").inner_text().startswith("citybrain")
    assert page.locator(".opblock-summary-path").count() > 20  # the operation list
    locate.click()  # opens: its parameters drawn from the definition
    page.locator(".opblock.is-open .parameters-container").wait_for(timeout=10_000)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "docs-swagger.png"))
    assert outside == [] and violations(page) == [], (outside, violations(page))
    page.close()

    page, outside = open_page(browser, server.url, "/redoc")
    page.locator("h2", has_text="Where is this point?").wait_for(timeout=60_000)  # /locate
    assert page.locator("h1").first.inner_text().startswith("citybrain")
    assert page.locator("[data-section-id]").count() > 20  # an entry per operation
    page.screenshot(path=str(OUTPUT / "docs-redoc.png"))
    assert outside == [] and violations(page) == [], (outside, violations(page))
    page.close()
