"""Every request's work is bounded: bodies, OGC paging, live streams, tile zooms, heatmap
sizes and the time any statement may take; each refusal says the limit."""

from __future__ import annotations

import httpx
import mercantile

from citybrain.api.deps import ConnDep
from citybrain.settings import Settings
from tests.utils.keys import API_KEYS_SETTING, auth
from tests.utils.server import LiveServer


def test_bodies_are_bounded_before_they_are_read(rw: httpx.Client) -> None:
    big = b'{"lon": 120.9, "lat": 30.85, "category": "' + b"x" * (1100 * 1024) + b'"}'
    r = rw.post(
        "/incidents",
        content=big,
        headers={**auth("dispatcher"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and "1024 KB" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(12):
            yield b"x" * (100 * 1024)

    r = rw.post(
        "/incidents",
        content=chunks(),
        headers={**auth("dispatcher"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_ogc_paging_has_a_floor(client: httpx.Client) -> None:
    r = client.get("/collections/incidents/items", params={"offset": 100_001})
    assert r.status_code == 400 and "deepest page (100000)" in r.json()["detail"]
    assert client.get("/collections/incidents/items", params={"offset": 100_000}).status_code == 200


def test_layer_tiles_keep_to_their_zooms(client: httpx.Client) -> None:
    t = mercantile.tile(120.91, 30.85, 5)
    r = client.get(f"/tiles/micro_grids/5/{t.x}/{t.y}.mvt")
    assert r.status_code == 400 and "zooms 14-22" in r.json()["detail"]


def test_heatmaps_are_bounded(seeded) -> None:
    settings = Settings(database_url=seeded, max_tile_hexagons=500, max_heatmap_cells=2000)
    year = {"last": "365d", "end": "2026-11-01"}
    with LiveServer(settings) as live, live.client() as api:
        r = api.get("/tiles/heatmap/0/0/0.mvt", params={"res": 11, **year})
        assert r.status_code == 400 and "hexagons (at most 500)" in r.json()["detail"]
        t = mercantile.tile(120.91, 30.85, 12)  # the resolution fitted to the zoom: fine
        assert api.get(f"/tiles/heatmap/12/{t.x}/{t.y}.mvt", params=year).status_code == 200
        r = api.get("/heatmap/incidents", params={"res": 10, **year})
        assert r.status_code == 400 and "more than one answer holds (2,000)" in r.json()["detail"]
        assert api.get("/heatmap/incidents", params={"res": 6, **year}).status_code == 200


def test_statements_have_a_deadline(seeded) -> None:
    """The server's connections stop any statement after CITYBRAIN_STATEMENT_TIMEOUT_MS, and
    a request stopped so gets a 503 that says why."""
    settings = Settings(database_url=seeded, statement_timeout_ms=300)
    live = LiveServer(settings)

    async def slow(conn: ConnDep):  # a stand-in for a query that reads too much
        await conn.execute("SELECT pg_sleep(1)")
        return {}

    live.app.add_api_route("/test-slow", slow)
    with live, live.client() as api:
        r = api.get("/test-slow")
        assert r.status_code == 503 and r.json()["code"] == "too_long"
        assert "longer than 0.3 s" in r.json()["detail"]
        assert api.get("/stats").status_code == 200  # and the next request is served


def test_dispatch_has_the_shorter_deadline(seeded) -> None:
    """Per lane: the dispatch process's statements stop after
    CITYBRAIN_DISPATCH_STATEMENT_TIMEOUT_MS, the public workers' after the longer
    CITYBRAIN_STATEMENT_TIMEOUT_MS; each connection says its own."""
    settings = Settings(
        database_url=seeded,
        api_keys=API_KEYS_SETTING,
        statement_timeout_ms=4000,
        dispatch_statement_timeout_ms=300,
    )

    async def slow(conn: ConnDep):  # 0.6 s: past dispatch's deadline, within the public one
        await conn.execute("SELECT pg_sleep(0.6)")
        return {"deadline": (await (await conn.execute("SHOW statement_timeout")).fetchone())[0]}

    public, dispatch = LiveServer(settings), LiveServer(settings, lane="dispatch")
    for live in (public, dispatch):
        live.app.add_api_route("/test-slow", slow)
    with public, dispatch, public.client() as p, dispatch.client() as d:
        r = p.get("/test-slow")
        assert r.status_code == 200 and r.json() == {"deadline": "4s"}
        r = d.get("/test-slow", headers=auth("viewer"))
        assert r.status_code == 503 and r.json()["code"] == "too_long"
        assert "longer than 0.3 s" in r.json()["detail"]
        r = d.get("/stats", headers=auth("viewer"))
        assert r.status_code == 200  # its short statements are served


def test_live_streams_are_bounded(seeded) -> None:
    settings = Settings(database_url=seeded, api_keys=API_KEYS_SETTING, max_event_streams=2)
    with LiveServer(settings) as live, live.client(timeout=10) as api:
        streams = [api.stream("GET", "/events") for _ in range(2)]
        opened = [s.__enter__() for s in streams]
        try:
            assert all(r.status_code == 200 for r in opened)
            r = api.get("/events")
            assert r.status_code == 503 and r.headers["retry-after"] == "30"
            assert "2 live streams" in r.json()["detail"]
        finally:
            for s in streams:
                s.__exit__(None, None, None)


def test_numbers_the_database_cannot_hold_are_not_500(rw: httpx.Client) -> None:
    """Found by the fuzzer: a subnormal longitude (5e-324) made PostgreSQL refuse the
    statement ("underflow") and the caller got a 500. Such coordinates are zero, a place
    outside the county: the usual 400 and 404."""
    tiny = {"lon": -5e-324, "lat": 5e-324, "category": "治安"}
    r = rw.post("/incidents", json=tiny, headers=auth("dispatcher"))
    assert r.status_code == 400 and "outside" in r.json()["detail"], r.text
    r = rw.post("/teams/1/position", json=tiny, headers=auth("dispatcher"))
    assert r.status_code == 400, r.text
    assert rw.get("/locate", params={"lon": 5e-324, "lat": 30.85}).status_code == 404
