"""Faults survived: PostgreSQL stopped and started, and a server process killed, while
dispatchers report through the API with idempotency keys and retries. Every acknowledged
report is there exactly once, nothing is there twice, the service answers again within 5 s of
the database, and the live streams (and the big screen in Chromium) are told to resync.

These tests run on a PostgreSQL cluster of their own (a small county seeded into it), so that
stopping it touches no other test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from citybrain.db import cluster
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.db.migrate import upgrade
from citybrain.settings import Settings
from tests.utils.browser import open_screen
from tests.utils.county import SEED_END
from tests.utils.keys import API_KEYS_SETTING, auth
from tests.utils.server import free_port, free_ports

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

DISPATCHER = auth("dispatcher")
RECOVERY_S = 5


@dataclass
class Own:
    """A cluster of this module's own, with a small seeded county."""

    settings: Settings

    @property
    def url(self) -> str:
        return self.settings.sqlalchemy_url

    def stop(self) -> None:
        assert cluster.down(self.settings)

    def start(self) -> None:
        cluster.up(self.settings)


@pytest.fixture(scope="module")
def own() -> Iterator[Own]:
    from citybrain.synth import build_county

    data = tempfile.mkdtemp(prefix="citybrain-faults-", dir="/tmp")
    os.chmod(data, 0o755)
    settings = Settings(data_dir=data, pg_port=free_ports(1), database_url=None)
    cluster.up(settings)
    engine = get_engine(settings.sqlalchemy_url)
    upgrade(engine)
    build_county(engine, n_incidents=2_000, seed=7, end=SEED_END)
    engine.dispose()
    try:
        yield Own(settings)
    finally:
        cluster.down(settings)


class Served:
    """``citybrain serve`` on the module's cluster, as deployed: the public port (screens) and
    the dispatch port (dispatchers, served by a process of its own), in a process group that
    the test may kill."""

    def __init__(self, own: Own):
        self.own, self.port, self.dispatch_port = own, free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dispatch_url = f"http://127.0.0.1:{self.dispatch_port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
        env.update(
            CITYBRAIN_DATABASE_URL=self.own.url,
            CITYBRAIN_API_KEYS=API_KEYS_SETTING,
            CITYBRAIN_RATE_LIMIT="",
            CITYBRAIN_RATE_LIMIT_KEYED="",
            CITYBRAIN_DISPATCH_PORT=str(self.dispatch_port),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citybrain.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not (_ready(self.url) and _ready(self.dispatch_url)):
            assert time.monotonic() < deadline and self.proc.poll() is None, "no server"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to every process of the server (as a crash or the OOM killer would):
        requests in flight die with them."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class Dispatchers:
    """Threads that report incidents, each with an Idempotency-Key, retrying every failure
    (refused connections, 503s, timeouts) with the same key until acknowledged."""

    url: str
    threads: int = 4
    each: int = 30
    acked: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    started: threading.Event = field(default_factory=threading.Event)

    def report(self, key: str, lon: float, lat: float) -> None:
        body = {"lon": lon, "lat": lat, "category": "治安", "description": key}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                r = httpx.post(
                    f"{self.url}/incidents",
                    json=body,
                    headers={**DISPATCHER, "Idempotency-Key": key},
                    timeout=10,
                )
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code in (200, 201):
                self.acked[key] = r.json()["id"]
                if len(self.acked) >= 10:
                    self.started.set()
                return
            assert r is None or r.status_code >= 500, r.text  # a 4xx is a defect here
            self.retries += 1
            time.sleep(0.2)
        raise AssertionError(f"report {key} never acknowledged")

    def run(self, tag: str, spot: tuple[float, float]) -> ThreadPoolExecutor:
        pool = ThreadPoolExecutor(self.threads)

        def one_thread(t: int) -> None:
            for i in range(self.each):
                self.report(f"{tag}-{t}-{i}", *spot)
                time.sleep(0.05)

        for t in range(self.threads):
            pool.submit(one_thread, t)
        return pool


def _spot(own: Own) -> tuple[float, float]:
    with psycopg.connect(libpq_conninfo(own.url)) as conn:
        return conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
            "FROM citybrain.micro_grids ORDER BY id LIMIT 1) s"
        ).fetchone()


def _check_exactly_once(own: Own, tag: str, d: Dispatchers) -> None:
    """Every acknowledged report is stored once, under the id it was acknowledged with; no
    report is stored twice; every stored one has its idempotency key and its audit entry."""
    with psycopg.connect(libpq_conninfo(own.url)) as conn:
        rows = conn.execute(
            "SELECT f.description, f.incident_id, (SELECT count(*) FROM citybrain.incident_events "
            "e WHERE e.incident_id = f.incident_id) FROM citybrain.case_files f "
            "WHERE f.description LIKE %s",
            [f"{tag}-%"],
        ).fetchall()
        keys = dict(
            conn.execute(
                "SELECT key, incident_id FROM citybrain.idempotency_keys WHERE key LIKE %s",
                [f"{tag}-%"],
            ).fetchall()
        )
    stored: dict[str, list[int]] = {}
    for description, incident_id, events in rows:
        stored.setdefault(description, []).append(incident_id)
        assert events == 1, f"{description}: {events} audit entries"
    expected = d.threads * d.each
    assert len(d.acked) == expected
    assert {k: v for k, v in stored.items() if len(v) > 1} == {}  # nothing twice
    assert {k: ids[0] for k, ids in stored.items()} == d.acked  # nothing lost, same ids
    assert keys == d.acked


def _listen(url: str, seen: list[str], stop: threading.Event) -> threading.Thread:
    """An SSE client that records event names."""

    def run() -> None:
        try:
            with httpx.stream("GET", f"{url}/events", timeout=httpx.Timeout(5, read=60)) as r:
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        seen.append(line.split(":", 1)[1].strip())
                    if stop.is_set():
                        return
        except httpx.TransportError:
            seen.append("(closed)")  # the server went away: the test has what it needs

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_database_restart_loses_and_doubles_nothing(own: Own, browser) -> None:  # noqa: F811
    served = Served(own)
    served.start()
    try:
        seen: list[str] = []
        stop = threading.Event()
        _listen(served.url, seen, stop)
        spot = _spot(own)
        page, outside = open_screen(browser, served.url, *spot, 14)
        d = Dispatchers(served.dispatch_url)
        pool = d.run("db", spot)
        assert d.started.wait(60)
        own.stop()
        try:
            # the processes live (no restart wanted), but cannot serve, and say so at once
            for url in (served.url, served.dispatch_url):
                assert httpx.get(f"{url}/livez", timeout=5).status_code == 200
                assert httpx.get(f"{url}/readyz", timeout=5).status_code == 503
            # 8 s: long enough that a pool left to its own exponential backoff (1, 2, 4, 8 s)
            # would come back seconds late; the server renews it when the database is back
            time.sleep(8)
        finally:
            own.start()  # returns once PostgreSQL accepts connections
        back = time.monotonic()
        while not (_ready(served.url) and _ready(served.dispatch_url)):
            assert time.monotonic() - back < 30, "the service never came back"
            time.sleep(0.05)
        ready_after = time.monotonic() - back
        pool.shutdown(wait=True)
        print(f"ready {ready_after:.2f} s after the database; {d.retries} retries")
        assert ready_after <= RECOVERY_S, f"ready {ready_after:.1f} s after the database"
        _check_exactly_once(own, "db", d)
        assert d.retries > 0  # the outage was felt: the retries carried the reports
        deadline = time.monotonic() + 15
        while "resync" not in seen and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "resync" in seen and seen[0] == "hello"
        page.wait_for_function("window.citybrain.state.resyncs > 0", timeout=30_000)
        assert outside == []
        stop.set()
        page.close()
    finally:
        served.stop()


def test_a_killed_server_loses_and_doubles_nothing(own: Own) -> None:
    served = Served(own)
    served.start()
    try:
        d = Dispatchers(served.dispatch_url)
        pool = d.run("kill", _spot(own))
        assert d.started.wait(60)
        served.kill()  # SIGKILL: requests in flight die with it
        time.sleep(1)
        served.start()
        pool.shutdown(wait=True)
        print(f"{d.retries} retries")
        _check_exactly_once(own, "kill", d)
        assert d.retries > 0
    finally:
        served.stop()


def test_a_screen_that_falls_behind_is_told_to_resync() -> None:
    """A stream's queue holds QUEUE_SIZE events; one more, and the screen gets ``resync``
    (reload) followed by the news, never a silent gap."""
    from citybrain.services.events import QUEUE_SIZE, RESYNC_OVERFLOW, EventHub

    hub = EventHub("")
    slow, fast = hub.subscribe(), hub.subscribe()
    for i in range(QUEUE_SIZE):
        hub.publish(("incident", f'{{"id": {i}}}'))
    while not fast.empty():
        fast.get_nowait()
    hub.publish(("incident", '{"id": -1}'))
    assert [slow.get_nowait() for _ in range(slow.qsize())] == [
        RESYNC_OVERFLOW,
        ("incident", '{"id": -1}'),
    ]
    assert [fast.get_nowait()] == [("incident", '{"id": -1}')]  # a screen that kept up
