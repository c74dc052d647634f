"""The big screen on any wall (issue 34): opened without a view in its URL, the county's extent
(from SQL over the towns) fills at least 80 % of the map's width or height, from a 1366×768
laptop to a 7680×2160 video wall, and again after the window is resized; a view chosen by hand
is kept through a resize."""

from __future__ import annotations

import psycopg
import pytest

from tests.utils.browser import open_page

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

WALLS = [(1366, 768), (1920, 1080), (3840, 2160), (7680, 2160)]
FILLED = """([w, s, e, n]) => {
    const m = window.citybrain.map, c = m.getContainer();
    const a = m.project([w, n]), b = m.project([e, s]);
    return {
        width: (b.x - a.x) / c.clientWidth, height: (b.y - a.y) / c.clientHeight,
        inside: a.x >= -1 && a.y >= -1 && b.x <= c.clientWidth + 1 && b.y <= c.clientHeight + 1,
    };
}"""


def county(seeded: str) -> list[float]:
    from citybrain.db.connection import libpq_conninfo

    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        box = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) e FROM citybrain.towns) s"
        ).fetchone()
    return [float(v) for v in box]


def fitted(page) -> None:
    page.wait_for_function("window.citybrain && window.citybrain.wall.bounds", timeout=60_000)
    page.evaluate(
        "() => new Promise(r => { const m = window.citybrain.map; "
        "if (!m.isMoving()) r(); else m.once('moveend', r); })"
    )


def filled(page, box: list[float]) -> dict:
    return page.evaluate(FILLED, box)


@pytest.mark.parametrize(("width", "height"), WALLS, ids=[f"{w}x{h}" for w, h in WALLS])
def test_the_county_fills_any_wall(browser, server, seeded, width: int, height: int) -> None:
    box = county(seeded)
    page, outside = open_page(browser, server.url)
    page.set_viewport_size({"width": width, "height": height})
    fitted(page)
    got = filled(page, box)
    assert got["inside"] and max(got["width"], got["height"]) >= 0.8, got
    assert outside == []
    # Resized (a wall's layout changed, a window moved to another screen): fitted again.
    page.set_viewport_size({"width": height * 2, "height": width // 2})
    page.wait_for_timeout(300)
    fitted(page)
    got = filled(page, box)
    assert got["inside"] and max(got["width"], got["height"]) >= 0.8, got
    page.close()


def test_a_view_chosen_by_hand_is_kept(browser, server, seeded) -> None:
    box = county(seeded)
    page, _ = open_page(browser, server.url)
    page.set_viewport_size({"width": 1920, "height": 1080})
    fitted(page)
    # A hand on the map: zoomed in on a town; the wall's resize keeps that view.
    page.mouse.move(960, 540)
    page.mouse.wheel(0, -1200)
    page.wait_for_timeout(800)
    zoom = page.evaluate("() => window.citybrain.map.getZoom()")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.citybrain.map.getZoom()") == pytest.approx(zoom)
    assert filled(page, box)["inside"] is False
    page.close()
