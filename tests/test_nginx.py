"""The scale-out front: two API server processes behind Debian's nginx running the deployment's
own configuration (``deploy/nginx.conf.template``). Requests are spread over both nodes (nginx's
access log checked against each node's own request counters); a tile is stored by nginx and
served from its store only after the API's 304 (every hit revalidated), byte for byte the API's
own answer; after a write, through either node or straight into the database, the next tile
through nginx carries it; the live stream passes unbuffered; request ids and client addresses
pass through. And the compose file that deploys it: its services, profiles and secrets."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import mercantile
import numpy as np
import psycopg
import pytest
import yaml
from pyproj import Transformer

from tests.utils.county import now
from tests.utils.events import Stream
from tests.utils.keys import auth
from tests.utils.metrics import requests, scrape
from tests.utils.nginx import Nginx, template_variables
from tests.utils.serve import Serve

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

ROOT = Path(__file__).resolve().parents[1]
TILE_ROUTE = "/tiles/{layer_id}/{z}/{x}/{y}.mvt"
LON, LAT = 120.9101, 30.8502  # inside the test county (tests/test_incident_tiles.py)
Z = 16  # incidents are drawn one by one from zoom 15 (feature id: the incident's id)
OPEN = {"reported", "dispatched", "on_site", "escalated"}  # shown whatever the window
TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)


@pytest.fixture(scope="module")
def nodes(rw_url: str) -> Iterator[list[Serve]]:
    """Two API nodes (each ``citybrain serve``: a public and a dispatch process) on the
    writable county, with access logs (the client address each one saw), trusting the
    X-Forwarded-For of nginx on the loopback as the deployment names its nginx (nothing is
    trusted by default)."""
    behind_nginx = {"CITYBRAIN_ACCESS_LOG": "true", "CITYBRAIN_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with (
        Serve(rw_url, workers=1, **behind_nginx) as a,
        Serve(rw_url, workers=1, **behind_nginx) as b,
    ):
        yield [a, b]


@pytest.fixture(scope="module")
def proxy(nodes: list[Serve]) -> Iterator[Nginx]:
    with Nginx([n.port for n in nodes], [n.dispatch_port for n in nodes]) as front:
        yield front


@pytest.fixture
def web(proxy: Nginx) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=30) as c:
        yield c


def _tile_url(lon: float = LON, lat: float = LAT) -> str:
    t = mercantile.tile(lon, lat, Z)
    return f"/tiles/incidents/{Z}/{t.x}/{t.y}.mvt"


def _ids(data: bytes) -> set[int]:
    layer = mapbox_vector_tile.decode(data).get("incidents", {"features": []})
    return {f["id"] for f in layer["features"]}


def _brute_force(conn: psycopg.Connection, lon: float, lat: float) -> tuple[set[int], set[int]]:
    """The ids a zoom-16 tile of the incidents reported in October 2026 (local time) or open
    must show: every such incident in the tile (by pyproj), and at most those within its
    buffer (64 of 4096 pixels)."""
    rows = conn.execute(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.incidents WHERE status = ANY(%s) "
        "OR (reported_at >= '2026-10-01T00:00+08' AND reported_at < '2026-11-01T00:00+08')",
        [sorted(OPEN)],
    ).fetchall()
    ids = np.array([r[0] for r in rows])
    x, y = TO_3857.transform(np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))
    b = mercantile.xy_bounds(mercantile.tile(lon, lat, Z))
    pad = (b.right - b.left) * 64 / 4096

    def within(margin: float) -> set[int]:
        keep = (x >= b.left - margin) & (x <= b.right + margin)
        keep &= (y >= b.bottom - margin) & (y <= b.top + margin)
        return {int(i) for i in ids[keep]}

    return within(0), within(pad)


def _tile_answers(nodes: list[Serve], status: int) -> float:
    """The incident-layer tile answers of ``status`` both nodes have counted."""
    total = 0.0
    for node in nodes:
        with httpx.Client(base_url=node.url, timeout=10) as c:
            total += requests(scrape(c), TILE_ROUTE, status=status)
    return total


def test_the_configuration_is_what_nginx_accepts(proxy: Nginx) -> None:
    checked = proxy.check()
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr


def test_requests_are_spread_over_both_nodes(nodes: list[Serve], proxy: Nginx, web) -> None:
    """nginx's log names the node of each request; each node's own counter agrees with it."""
    before = [_livez(n) for n in nodes]
    ids = [f"spread-{i}" for i in range(20)]
    for rid in ids:
        assert web.get("/livez", headers={"X-Request-ID": rid}).status_code == 200
    # (nginx writes a request's log line after its answer: the client may read the log first)
    deadline = time.monotonic() + 10
    while True:
        logged = [line for line in proxy.log() if line.get("rid") in ids]
        if len(logged) >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    by_node = Counter(line["upstream"] for line in logged)
    ports = {f"127.0.0.1:{n.port}" for n in nodes}
    assert set(by_node) == ports, by_node
    assert min(by_node.values()) >= 5, by_node  # least_conn, idle nodes: taken in turn
    counted = [_livez(n) - b for n, b in zip(nodes, before, strict=True)]
    assert counted == [by_node[f"127.0.0.1:{n.port}"] for n in nodes]


def _livez(node: Serve) -> float:
    with httpx.Client(base_url=node.url, timeout=10) as c:
        return requests(scrape(c), "/livez")


def test_a_tile_is_revalidated_and_served_from_the_cache(nodes, proxy, web) -> None:
    """First fetch stored (MISS); the second asks the API with If-None-Match, gets 304 and
    serves the stored body (REVALIDATED): the API's answer, byte for byte."""
    url, params = _tile_url(), {"start": "2026-09-01", "end": "2026-10-01"}
    with httpx.Client(base_url=nodes[0].url, timeout=30) as direct:
        own = direct.get(url, params=params)
    assert own.status_code == 200 and own.headers["cache-control"] == "no-cache"
    first = web.get(url, params=params)
    assert first.status_code == 200 and first.headers["x-cache-status"] == "MISS"
    answers_200, answers_304 = _tile_answers(nodes, 200), _tile_answers(nodes, 304)
    second = web.get(url, params=params)
    assert second.status_code == 200 and second.headers["x-cache-status"] == "REVALIDATED"
    # The API was asked, and said 304 (the nodes count it), and sent no tile.
    assert _tile_answers(nodes, 304) == answers_304 + 1
    assert _tile_answers(nodes, 200) == answers_200
    assert first.content == second.content == own.content
    assert mapbox_vector_tile.decode(second.content) == mapbox_vector_tile.decode(own.content)
    assert second.headers["etag"] == own.headers["etag"]
    assert _ids(own.content)  # a tile with incidents in it, not an empty one
    # A client that has the tile: nginx answers its If-None-Match (after revalidating).
    again = web.get(url, params=params, headers={"If-None-Match": own.headers["etag"]})
    assert again.status_code == 304 and again.headers["x-cache-status"] == "REVALIDATED"


def test_a_write_is_never_hidden(nodes, proxy, web, rw_conn: psycopg.Connection) -> None:
    """A tile cached and revalidated; an incident reported in it through nginx (whichever node
    takes it): the next fetch through nginx has it. Then a write straight into the database
    (no API node saw it): the next fetch drops it."""
    url, params = _tile_url(), {"start": "2026-10-01", "end": "2026-11-01"}
    web.get(url, params=params)
    cached = web.get(url, params=params)
    assert cached.headers["x-cache-status"] == "REVALIDATED"
    with httpx.Client(base_url=proxy.dispatch_url, timeout=30) as dispatch:
        r = dispatch.post(
            "/incidents",
            json={"lon": LON, "lat": LAT, "category": "治安", "source": "grid_patrol"},
            headers={**auth("dispatcher"), "Idempotency-Key": "nginx-never-hidden-1"},
        )
    assert r.status_code in (200, 201), r.text
    new_id = r.json()["id"]
    assert new_id not in _ids(cached.content)
    fresh = web.get(url, params=params)
    # EXPIRED: the stored tile was out of date, the API sent the new one (and nginx stored it).
    assert fresh.headers["x-cache-status"] == "EXPIRED"
    assert _ids(fresh.content) == _ids(cached.content) | {new_id}
    assert web.get(url, params=params).headers["x-cache-status"] == "REVALIDATED"
    with httpx.Client(base_url=nodes[1].url, timeout=30) as direct:
        assert direct.get(url, params=params).content == fresh.content
    inner, outer = _brute_force(rw_conn, LON, LAT)
    assert new_id in inner and inner <= _ids(fresh.content) <= outer

    # Closed and reported long ago: out of the window, by a write no API node took part in.
    rw_conn.execute(
        "UPDATE citybrain.incidents SET status = 'closed', "
        "reported_at = %s - interval '120 days', closed_at = %s WHERE id = %s",
        [now(), now(), new_id],
    )
    gone = web.get(url, params=params)
    assert gone.headers["x-cache-status"] == "EXPIRED"
    assert _ids(gone.content) == _ids(cached.content)


def _variant(old: str, new: str):
    def edit(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return edit


HOP = "proxy_pass http://citybrain_tiles_revalidate;"


def test_without_the_second_hop_nothing_is_stored(nodes) -> None:
    """Why the configuration's second hop: straight to the API, whose tiles say
    ``Cache-Control: no-cache``, nginx stores nothing (every fetch a MISS, a whole tile)."""
    straight = _variant(HOP, "proxy_pass http://citybrain_api;")
    with (
        Nginx([n.port for n in nodes], [n.dispatch_port for n in nodes], straight) as front,
        httpx.Client(base_url=front.url, timeout=30) as c,
    ):
        statuses = [c.get(_tile_url()).headers["x-cache-status"] for _ in range(3)]
    assert statuses == ["MISS"] * 3


def test_a_freshness_time_would_hide_a_write(nodes, rw_conn: psycopg.Connection) -> None:
    """And why not a freshness time instead (the API's no-cache ignored, tiles kept a minute;
    nginx's shortest is a second): the tile stored before a write is served after it."""
    url, params = _tile_url(LON - 0.003, LAT), {"start": "2026-10-01", "end": "2026-11-01"}
    fresh_for = _variant(
        HOP,
        "proxy_pass http://citybrain_api; proxy_cache_valid 200 1m; "
        "proxy_ignore_headers Cache-Control Expires X-Accel-Expires;",
    )
    with Nginx([n.port for n in nodes], [n.dispatch_port for n in nodes], fresh_for) as front:
        with httpx.Client(base_url=front.url, timeout=30) as c:
            before = c.get(url, params=params)
            (new_id,) = rw_conn.execute(
                "INSERT INTO citybrain.incidents (category, source, severity, status, tier, "
                "reported_at, updated_at, geom) SELECT category, source, severity, 'reported', "
                "tier, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326) "
                "FROM citybrain.incidents LIMIT 1 RETURNING id",
                [now(), now(), LON - 0.003, LAT],
            ).fetchone()
            after = c.get(url, params=params)
        with httpx.Client(base_url=nodes[0].url, timeout=30) as direct:
            assert new_id in _ids(direct.get(url, params=params).content)
    assert after.headers["x-cache-status"] == "HIT"
    assert after.content == before.content and new_id not in _ids(after.content)


def test_tiles_without_an_etag_are_not_stored(web) -> None:
    """Heatmap tiles carry no ETag: nginx could not revalidate them, so it does not keep them."""
    t = mercantile.tile(LON, LAT, 12)
    for _ in range(2):
        r = web.get(f"/tiles/heatmap/12/{t.x}/{t.y}.mvt", params={"last": "30d"})
        assert r.status_code == 200 and "etag" not in r.headers
        assert r.headers["x-cache-status"] == "MISS"


def test_the_live_stream_passes_unbuffered(proxy: Nginx) -> None:
    """An incident reported through nginx reaches a stream held through nginx within seconds
    (nginx buffering the stream would hold it back until its buffer filled)."""
    stream = Stream(proxy.url, lambda got: any(e == "incident" for e, _ in got))
    started = time.monotonic()
    with httpx.Client(base_url=proxy.dispatch_url, timeout=30) as dispatch:
        r = dispatch.post(
            "/incidents",
            json={"lon": LON + 0.002, "lat": LAT, "category": "环境"},
            headers=auth("dispatcher"),
        )
    assert r.status_code == 201, r.text
    got = stream.join(timeout=5)
    assert time.monotonic() - started < 5
    assert [p["id"] for e, p in got if e == "incident"] == [r.json()["id"]]


def test_request_ids_pass_through(web) -> None:
    r = web.get("/healthz", headers={"X-Request-ID": "nginx-rid-0001"})
    assert r.headers["x-request-id"] == "nginx-rid-0001"
    # None sent: nginx makes one (32 hex digits), the API logs and echoes it.
    r = web.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    # A tile from nginx's store carries this request's id, not the stored answer's.
    url = _tile_url()
    web.get(url, headers={"X-Request-ID": "nginx-rid-stored"})
    r = web.get(url, headers={"X-Request-ID": "nginx-rid-0002"})
    assert r.headers["x-cache-status"] == "REVALIDATED"
    assert r.headers.get_list("x-request-id") == ["nginx-rid-0002"]


def test_the_nodes_see_the_client_address(nodes: list[Serve], proxy: Nginx) -> None:
    """nginx appends the caller's address to X-Forwarded-For; the nodes trust nginx's address
    (CITYBRAIN_FORWARDED_ALLOW_IPS) and so log the caller's, however it forges the header."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=proxy.url, transport=transport, timeout=10) as c:
        for i in range(4):
            headers = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": f"nginx-xff-{i}"}
            assert c.get("/livez", headers=headers).status_code == 200
    seen = {}
    for node in nodes:
        for line in node.lines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("request_id", "")).startswith("nginx-xff-"):
                seen[entry["request_id"]] = entry.get("client")
    assert len(seen) == 4, seen
    assert all(str(client).startswith("127.0.0.2") for client in seen.values()), seen


# The compose file: no Docker engine here, so its structure is checked as compose reads it.
COMPOSE = ROOT / "docker-compose.yml"
SCALE = {"primary", "replica", "pgbouncer", "migrate", "api1", "api2", "nginx"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_services_and_profiles(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        needs = service.get("depends_on", {})
        assert set(needs) <= set(services), (name, needs)
    # The default services start without a profile; the scale-out ones only with theirs, and
    # need nothing outside it (``--profile scale up nginx`` starts no default service).
    assert not services["db"].get("profiles") and not services["app"].get("profiles")
    assert services["tests"]["profiles"] == ["test"]
    assert {n for n, s in services.items() if "scale" in s.get("profiles", [])} == SCALE
    for name in SCALE:
        assert set(services[name].get("depends_on", {})) <= SCALE, name
    # Every file a service mounts from the checkout exists.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)


def test_compose_holds_no_secret(compose: dict) -> None:
    """Passwords and keys only as ${...} from .env; every variable it reads is listed in
    .env.example; and only the default services' variables are required (${X:?}): compose
    interpolates every service, whatever the profile, so a variable required by the scale
    profile alone would stop the default ``docker compose up`` too."""
    text = COMPOSE.read_text()
    for name, service in compose["services"].items():
        for key, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|KEYS", key):
                assert re.fullmatch(r"\$\{[A-Z_]+:[-?][^}]*\}", str(value)), (name, key)
    urls = re.findall(r"postgresql\+psycopg://\w+:(.*?)@\w+:\d+/", text)
    assert len(urls) == 6 and all(re.fullmatch(r"\$\{[A-Z_]+:[-?][^}]*\}", p) for p in urls), urls
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
    read = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    assert read <= listed, read - listed
    default = yaml.safe_dump({n: compose["services"][n] for n in ("db", "app")})
    required = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*):\?", text))
    assert required <= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", default)), required


def test_compose_gives_nginx_every_template_variable(compose: dict) -> None:
    nginx = compose["services"]["nginx"]
    assert (
        "./deploy/nginx.conf.template:/etc/nginx/templates/default.conf.template:ro"
        in (nginx["volumes"])
    )
    assert template_variables() <= set(nginx["environment"]), template_variables()
    servers = nginx["environment"]["NGINX_API_SERVERS"]
    assert re.findall(r"server (api\d):8000", servers) == ["api1", "api2"]


def test_compose_scripts_are_valid_shell() -> None:
    for script in sorted((ROOT / "deploy").glob("*.sh")):
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0, script


def test_pgbouncer_template_pools_transactions() -> None:
    import configparser

    ini = configparser.ConfigParser(inline_comment_prefixes=None)
    ini.read(ROOT / "deploy" / "pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert ini["databases"]["citybrain"].split()[0] == "host=primary"
