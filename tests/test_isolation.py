"""Dispatch isolated from public load: ``citybrain serve`` runs dispatch callers in a process of
their own (keys only, higher CPU priority than the public workers), and every process admits
only a few heavy answers at once, the others waiting without a database connection. (How much
this keeps dispatch's latency under a flood is measured by ``bench/isolation.py``.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import mercantile
import psutil
import psycopg
import pytest

from citybrain.api.admission import QUEUE_PER_SLOT
from citybrain.api.deps import HeavyTurn
from citybrain.db.connection import libpq_conninfo
from citybrain.settings import Settings
from tests.utils.cli import citybrain
from tests.utils.county import point_in
from tests.utils.keys import API_KEYS_SETTING, auth
from tests.utils.server import LiveServer, free_port, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

START, END = "2026-08-01T00:00:00+08:00", "2026-11-01T00:00:00+08:00"


def _point(url: str) -> tuple[float, float, int]:
    """A point inside micro-grid 10, and the id SQL finds for it."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        lon, lat = point_in(conn, 10)
        found = conn.execute(
            "SELECT id FROM citybrain.micro_grids "
            "WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            [lon, lat],
        ).fetchone()[0]
    return lon, lat, found


def _count(url: str) -> int:
    """Incidents reported in [START, END), by SQL."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return conn.execute(
            "SELECT count(*) FROM citybrain.incidents WHERE reported_at >= %s AND reported_at < %s",
            [START, END],
        ).fetchone()[0]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_serve_gives_dispatch_a_process_of_its_own(seeded: str, tmp_path) -> None:
    port, dispatch_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
    env.update(
        CITYBRAIN_DATABASE_URL=seeded,
        CITYBRAIN_ALERTS_RUN="false",  # its detectors would write into the read-only county
        CITYBRAIN_API_KEYS=API_KEYS_SETTING,
        CITYBRAIN_DISPATCH_PORT=str(dispatch_port),
        CITYBRAIN_PUBLIC_NICE="7",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "citybrain.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("w"),
        start_new_session=True,
    )
    public, dispatch = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{dispatch_port}"
    listening: dict[int, list[psutil.Process]] = {}
    try:
        deadline = time.monotonic() + 90
        while not (_ready(public) and _ready(dispatch)):
            assert time.monotonic() < deadline and proc.poll() is None, (
                tmp_path / "serve.log"
            ).read_text()[-3000:]
            time.sleep(0.2)
        # two public workers on the port, one dispatch process on the other, niced apart (a
        # worker listens once its start-up is done: the last may still be starting)
        parent = psutil.Process(proc.pid)
        while True:
            listening = {}
            for child in parent.children():
                for c in child.net_connections(kind="tcp"):
                    if c.status == psutil.CONN_LISTEN:
                        listening.setdefault(c.laddr.port, []).append(child)
            counts = {p: len(procs) for p, procs in listening.items()}
            if counts == {port: 2, dispatch_port: 1} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert counts == {port: 2, dispatch_port: 1}
        assert [w.nice() for w in listening[port]] == [parent.nice() + 7] * 2
        assert listening[dispatch_port][0].nice() == parent.nice()

        lon, lat, micro_grid = _point(seeded)
        where = {"lon": lon, "lat": lat}
        # the dispatch port: keys only (health checks open), the same answers as the public port
        refused = httpx.get(f"{dispatch}/locate", params=where, timeout=10)
        assert refused.status_code == 401 and f"port {port}" in refused.json()["detail"]
        assert httpx.get(f"{dispatch}/heatmap/incidents", timeout=10).status_code == 401
        assert httpx.get(f"{dispatch}/livez", timeout=10).status_code == 200
        keyed = httpx.get(f"{dispatch}/locate", params=where, headers=auth("viewer"), timeout=10)
        same_key = httpx.get(f"{public}/locate", params=where, headers=auth("viewer"), timeout=10)
        assert keyed.status_code == same_key.status_code == 200
        assert keyed.json() == same_key.json()
        assert keyed.json()["micro_grid"]["id"] == micro_grid
        body = {"lon": lon, "lat": lat, "category": "治安", "severity": 2}
        answers = [
            httpx.post(f"{base}/dispatch/recommend", json=body, headers=auth("dispatcher"))
            for base in (dispatch, public)
        ]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].json() == answers[1].json()
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
    _, alive = psutil.wait_procs([p for procs in listening.values() for p in procs], timeout=10)
    assert alive == []  # the workers stop with the server
    assert code == 0  # stopped when asked: a success, for systemd and docker


def test_a_dispatch_port_equal_to_the_port_is_refused(seeded: str) -> None:
    served = citybrain(seeded, "serve", "--port", "8001")  # the default dispatch port
    assert served.returncode == 2
    assert "port 8001 is also CITYBRAIN_DISPATCH_PORT" in served.stderr
    with pytest.raises(ValueError, match="both 9000"):
        Settings(port=9000, dispatch_port=9000)


@pytest.fixture
def gated(seeded: str) -> Iterator[tuple[LiveServer, threading.Event]]:
    """A server that builds one heavy answer at a time (others wait up to 3 s) on a pool of
    two connections that a request waits 1 s for, with a route that holds the one turn until
    the test releases it."""
    settings = server_settings(
        seeded,
        heavy_slots=1,
        heavy_wait_s=3.0,
        pool_size=2,
        pool_timeout_s=1.0,
    )
    release = threading.Event()

    async def hold() -> dict:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return {"held": True}

    live = LiveServer(settings)
    live.app.add_api_route("/test-hold", hold, dependencies=[HeavyTurn])
    with live:
        yield live, release
        release.set()


def _wait_for(predicate, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_heavy_answers_take_turns_and_the_rest_never_wait(gated, seeded: str) -> None:
    live, release = gated
    gate = live.app.state.citybrain.heavy
    lon, lat, micro_grid = _point(seeded)
    cached = mercantile.tile(lon, lat, 14)
    other = mercantile.tile(lon + 0.05, lat, 14)
    tile = "/tiles/incidents/14/{}/{}.mvt?last=365d"
    with live.client() as api, ThreadPoolExecutor(12) as pool:
        first = api.get(tile.format(cached.x, cached.y))
        assert first.status_code == 200
        holder = pool.submit(api.get, "/test-hold")
        _wait_for(gate._free.locked)
        heavy = "/heatmap/incidents?res=8&start=2026-08-01T00:00:00%2B08:00"
        waiters = [pool.submit(api.get, heavy) for _ in range(6)]
        _wait_for(lambda: gate.waiting == 6)
        # six requests wait their turn, holding no connection: a lookup gets one of the two
        located = api.get("/locate", params={"lon": lon, "lat": lat})
        assert located.status_code == 200, located.text
        assert located.json()["micro_grid"]["id"] == micro_grid
        again = api.get(tile.format(cached.x, cached.y))  # a cached tile needs no turn
        assert again.status_code == 200 and again.content == first.content
        waited = api.get(tile.format(other.x, other.y))  # a tile to render does
        assert waited.status_code == 503 and waited.headers["retry-after"] == "3"
        assert "1 at once" in waited.json()["detail"]
        for w in waiters:
            r = w.result()
            assert r.status_code == 503 and r.json()["code"] == "busy"
            assert r.headers["retry-after"] == "3"
        release.set()
        assert holder.result().json() == {"held": True}
        # the turn is free again: the heavy answer comes, and it is right
        body = api.get("/heatmap/incidents", params={"res": 8, "start": START, "end": END})
        assert body.status_code == 200
        assert body.json()["totals"]["incidents"] == _count(seeded) > 0
        _wait_for(lambda: gate.waiting == 0 and not gate._free.locked(), seconds=5)


def test_the_queue_of_heavy_answers_is_bounded(gated) -> None:
    live, _ = gated
    gate = live.app.state.citybrain.heavy
    room = QUEUE_PER_SLOT * gate.slots
    with live.client() as api, ThreadPoolExecutor(48) as pool:
        pool.submit(api.get, "/test-hold")
        _wait_for(gate._free.locked)
        started = time.monotonic()
        answers = list(pool.map(lambda _: api.get("/hotspots/incidents"), range(room + 8)))
        elapsed = time.monotonic() - started
    details = [a.json()["detail"] for a in answers]
    assert [a.status_code for a in answers] == [503] * (room + 8)
    assert sum("already waiting" in d for d in details) == 8
    assert sum("no turn came within 3 s" in d for d in details) == room
    assert elapsed < 10  # each waited at most its 3 s


def test_the_database_admits_one_heavy_answer_across_processes(gated, seeded: str) -> None:
    """Two servers (two processes of a deployment) on one database: while one builds a heavy
    answer, the other's waits for the deployment's slot, an advisory lock PostgreSQL shows."""
    from citybrain.api.admission import LOCK_SPACE

    live, release = gated
    other = LiveServer(
        Settings(database_url=seeded, api_keys=API_KEYS_SETTING, rate_limit="", heavy_wait_s=1.0)
    )
    held = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = %s::oid AND objid = 0 AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    page = "/collections/cameras/items?limit=50&offset=10"
    with (
        other,
        psycopg.connect(libpq_conninfo(seeded), autocommit=True) as conn,
        live.client() as a,
        other.client() as b,
        ThreadPoolExecutor(2) as pool,
    ):
        assert conn.execute(held, [LOCK_SPACE]).fetchone()[0] == 0
        holder = pool.submit(a.get, "/test-hold")
        _wait_for(lambda: conn.execute(held, [LOCK_SPACE]).fetchone()[0] == 1)
        started = time.monotonic()
        refused = b.get(page)
        assert refused.status_code == 503 and "stayed taken for 1 s" in refused.json()["detail"]
        assert time.monotonic() - started >= 1.0
        release.set()
        assert holder.result().status_code == 200
        answered = b.get(page)
        assert answered.status_code == 200
        ids = conn.execute("SELECT id FROM citybrain.cameras ORDER BY id LIMIT 50 OFFSET 10")
        assert [f["id"] for f in answered.json()["features"]] == [r[0] for r in ids]
        # every slot given back (as the answer goes out: a dependency's exit may follow it)
        _wait_for(lambda: conn.execute(held, [LOCK_SPACE]).fetchone()[0] == 0, seconds=5)
