"""``/metrics``: Prometheus text that prometheus-client's parser reads, counters that move by
exactly the requests made (per route template, method and status), histograms that agree with
them, gauges of the pools, the heat index, the tile cache and the live streams; who may read it;
and the same across the processes of ``citybrain serve --workers 2``."""

from __future__ import annotations

import time

import httpx
import mercantile
import pytest

from citybrain.settings import Settings
from tests.utils.county import N_INCIDENTS
from tests.utils.keys import auth
from tests.utils.metrics import matching, requests, scrape, value
from tests.utils.serve import Serve
from tests.utils.server import LiveServer, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

CENTRE = (120.92, 30.84)  # inside Jiashan


def test_requests_counted_by_route_template(client: httpx.Client) -> None:
    before = scrape(client)
    for team in (1, 2, 3):
        assert client.get(f"/teams/{team}").status_code == 200
    assert client.get("/teams/999999999").status_code == 404
    for path in ("/no/such/thing", "/nor/this/one"):
        assert client.get(path).status_code == 404
    assert client.post("/livez").status_code == 405
    after = scrape(client)

    def moved(route: str, method: str = "GET", status: int = 200) -> float:
        return requests(after, route, method, status) - requests(before, route, method, status)

    assert moved("/teams/{team_id}") == 3
    assert moved("/teams/{team_id}", status=404) == 1
    assert moved("<unmatched>", status=404) == 2  # any path: one series
    assert moved("/livez", "POST", 405) == 1
    assert moved("/livez") == 0
    # The raw paths never become labels.
    labels = {v for (name, lb) in after for k, v in lb if k == "route"}
    assert not any("999999999" in r or "no/such" in r or r == "/teams/1" for r in labels)
    # The histogram counts every answer of a route, whatever its status, and its buckets add up.
    count = "citybrain_http_request_duration_seconds_count"
    key = {"route": "/teams/{team_id}", "method": "GET"}
    assert value(after, count, **key) - value(before, count, **key) == 4
    buckets = matching(after, "citybrain_http_request_duration_seconds_bucket", **key)
    assert buckets[frozenset({**key, "le": "+Inf"}.items())] == value(after, count, **key)
    ordered = sorted(buckets.items(), key=lambda kv: float(dict(kv[0])["le"]))
    assert [v for _, v in ordered] == sorted(v for _, v in ordered)  # cumulative


def test_metrics_need_a_key(client: httpx.Client) -> None:
    r = client.get("/metrics")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert "citybrain_http_requests_total" in client.get("/metrics", headers=auth("viewer")).text


@pytest.mark.parametrize(
    ("access", "anonymous", "keyed"), [("anonymous", 200, 200), ("off", 404, 404)]
)
def test_metrics_access_setting(seeded: str, access: str, anonymous: int, keyed: int) -> None:
    with LiveServer(server_settings(seeded, metrics_access=access)) as live, live.client() as c:
        assert c.get("/metrics").status_code == anonymous
        assert c.get("/metrics", headers=auth("admin")).status_code == keyed


def test_pool_and_heat_index_gauges(client: httpx.Client) -> None:
    assert client.get("/heatmap/incidents", params={"res": 7, "last": "365d"}).status_code == 200
    samples = scrape(client)
    size = Settings().pool_size
    assert value(samples, "citybrain_db_pool_connections", pool="public") == size
    assert value(samples, "citybrain_db_pool_in_use", pool="public") == 0  # at rest
    assert value(samples, "citybrain_db_pool_waiting", pool="public") == 0
    assert value(samples, "citybrain_heat_index_incidents") == N_INCIDENTS
    assert value(samples, "citybrain_heat_index_overlay_rows") == 0
    fresh = value(samples, "citybrain_heat_index_fresh_timestamp_seconds")
    assert 0 <= time.time() - fresh < 60  # caught up for the heatmap just asked
    assert value(samples, "citybrain_heat_index_rebuilds_total", kind="load") >= 1
    assert value(samples, "citybrain_heat_index_catch_up_seconds_count") >= 2  # start, heatmap


def test_tile_cache_hits_on_a_repeated_tile(client: httpx.Client) -> None:
    t = mercantile.tile(*CENTRE, 13)
    path = f"/tiles/villages/13/{t.x}/{t.y}.mvt"
    first = client.get(path)
    assert first.status_code == 200 and first.content
    before = scrape(client)
    second = client.get(path)
    assert second.content == first.content
    after = scrape(client)
    assert (
        value(after, "citybrain_tile_cache_hits_total")
        - value(before, "citybrain_tile_cache_hits_total")
        == 1
    )
    assert value(after, "citybrain_tile_cache_misses_total") == value(
        before, "citybrain_tile_cache_misses_total"
    )
    assert value(after, "citybrain_tile_cache_bytes") >= len(first.content)


def _subscribers(client: httpx.Client) -> float:
    return value(scrape(client), "citybrain_sse_subscribers")


# --- several processes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(seeded: str):
    with Serve(seeded, workers=2) as s:
        yield s


def test_counters_add_up_across_worker_processes(served: Serve) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as c:
        before = scrape(c)
    n = 40
    for _ in range(n):  # a connection each: the kernel spreads them over both workers
        with httpx.Client(base_url=served.url, timeout=30) as c:
            assert c.get("/livez").status_code == 200
    with httpx.Client(base_url=served.dispatch_url, timeout=30) as c:
        assert c.get("/livez", headers=auth("dispatcher")).status_code == 200
    for _ in range(6):  # whichever process answers the scrape, it counts every process
        with httpx.Client(base_url=served.url, timeout=30) as c:
            after = scrape(c)
        assert requests(after, "/livez") - requests(before, "/livez") == n + 1
    # Each process's own pool: two public workers and the dispatch process, by pid.
    pools = matching(after, "citybrain_db_pool_connections")
    lanes = sorted(dict(labels)["pool"] for labels in pools)
    pids = {dict(labels)["pid"] for labels in pools}
    assert lanes == ["dispatch", "public", "public"] and len(pids) == 3
    assert set(pids) == {str(p) for p in served.worker_pids()}
    assert set(pools.values()) == {Settings().pool_size}
    # Every process holds its own heat index, reported under its pid.
    per_worker = matching(after, "citybrain_heat_index_incidents")
    assert sorted(per_worker.values()) == [N_INCIDENTS] * 3


def test_sse_subscribers_follow_open_streams(served: Serve) -> None:
    """Streams counted over the server's processes (livesum): a server of its own, as
    in-process test servers share one registry and other tests' streams close when they will."""
    with httpx.Client(base_url=served.url, timeout=30) as client:
        assert _subscribers(client) == 0
        opened = []
        try:
            for n in (1, 2, 3):  # each on a connection of its own: any worker may take it
                c = httpx.Client(base_url=served.url, timeout=30)
                stream = c.stream("GET", "/events")
                lines = stream.__enter__().iter_lines()
                opened.append((c, stream, lines))  # (a dropped iterator closes its stream)
                assert next(lines) == "event: hello"
                assert _subscribers(client) == n
        finally:
            for c, stream, _ in opened:
                stream.__exit__(None, None, None)
                c.close()
        deadline = time.monotonic() + 10
        while _subscribers(client) != 0:
            assert time.monotonic() < deadline, "the closed streams are still counted"
            time.sleep(0.1)
