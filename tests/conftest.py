"""Test fixtures: a real PostGIS database with a seeded synthetic county, and a real server.

The tests use the database server citybrain is configured with (``CITYBRAIN_DATABASE_URL``, or
the embedded cluster, brought up if needed) and a database of their own on it,
``<name>_test``, created afresh for every run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from psycopg import sql
from sqlalchemy.engine import make_url

from citybrain.db import cluster
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.db.migrate import upgrade
from citybrain.services.routing import Router
from citybrain.settings import Settings

# The servers the tests start run no alert detectors unless a test asks (they would write
# alerts into the county that the other tests read; tests/test_alerts.py runs them).
os.environ["CITYBRAIN_ALERTS_RUN"] = "false"

SEED = 7
N_INCIDENTS = 20_000
SEED_END = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
API_KEYS = {
    "viewer": "viewer-test-key-0001",
    "dispatcher": "dispatcher-test-key-0001",
    "admin": "admin-test-key-000001",
}
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOWNS_FILE = SHARED_DATA / "jiashan_towns_wgs84.geojson"


def _test_url() -> str:
    if os.environ.get("CITYBRAIN_TEST_DATABASE_URL"):
        return Settings(database_url=os.environ["CITYBRAIN_TEST_DATABASE_URL"]).sqlalchemy_url
    base = Settings()
    cluster.ensure_up(base)
    url = make_url(base.sqlalchemy_url)
    return url.set(database=f"{url.database}_test").render_as_string(hide_password=False)


def create_database(url: str) -> None:
    """Drop and create the database of ``url``, with PostGIS and the migrated schema."""
    name = make_url(url).database
    with psycopg.connect(libpq_conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    cluster.up(Settings(database_url=url))
    upgrade(get_engine(url))


@pytest.fixture(scope="session")
def db_url() -> str:
    url = _test_url()
    create_database(url)
    return url


def _sibling(url: str, suffix: str) -> str:
    u = make_url(url)
    return u.set(database=f"{u.database}{suffix}").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def seeded(db_url: str) -> str:
    """The test database with a synthetic county (seed 7, 20,000 incidents), read-only for
    the tests; a copy of it, ``<name>_rw``, is made at once for the tests that write."""
    from citybrain.synth import build_county

    build_county(get_engine(db_url), n_incidents=N_INCIDENTS, seed=SEED, end=SEED_END)
    get_engine(db_url).dispose()  # a template must have no connections
    for suffix in ("_rw", "_county"):  # _county: never connected to, cloned by fresh_county
        clone_database(db_url, _sibling(db_url, suffix))
    return db_url


def clone_database(template: str, target: str) -> None:
    """``target`` dropped and created as a copy of ``template`` (which nothing may be using)."""
    name = make_url(target).database
    with psycopg.connect(libpq_conninfo(template, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(make_url(template).database)
            )
        )


@pytest.fixture(scope="session")
def empty_template(db_url: str) -> str:
    """A migrated database with no county in it, for fresh_empty to copy."""
    url = _sibling(db_url, "_empty")
    create_database(url)
    get_engine(url).dispose()
    return url


@pytest.fixture
def fresh_county(seeded: str) -> str:
    """A database of its own holding the seeded county, made again for each test."""
    url = _sibling(seeded, "_fresh")
    clone_database(_sibling(seeded, "_county"), url)
    return url


@pytest.fixture
def fresh_empty(empty_template: str) -> str:
    """A migrated, empty database of its own, made again for each test."""
    url = _sibling(empty_template, "_fresh")
    clone_database(empty_template, url)
    return url


@pytest.fixture(scope="session")
def rw_url(seeded: str) -> str:
    """A copy of the seeded database that tests may change (and must not count on)."""
    return _sibling(seeded, "_rw")


@pytest.fixture(scope="session")
def router(seeded: str) -> Router:
    """The in-memory router of the seeded county's road network."""

    async def load() -> Router:
        async with await psycopg.AsyncConnection.connect(libpq_conninfo(seeded)) as conn:
            return await Router.load(conn)

    return asyncio.run(load())


@pytest.fixture
def conn(seeded: str) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(libpq_conninfo(seeded)) as c:
        yield c
        c.rollback()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """citybrain served by uvicorn on a loopback port, in a background thread."""

    def __init__(self, settings: Settings, port: int | None = None):
        from citybrain.api.main import create_app
        from citybrain.api.server import proxies

        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,  # event streams never end by themselves
            **proxies(settings.forwarded_allow_ips),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.thread.is_alive():
            raise RuntimeError("server did not stop")


def _test_settings(url: str, **overrides) -> Settings:
    """The shared test servers' settings: the test keys, and no rate limits (the tests ask
    thousands of times a minute from one address; tests/test_ratelimit.py tests the limits)."""
    return Settings(
        **{"database_url": url, "api_keys": _keys(), "rate_limit": "", "rate_limit_keyed": ""}
        | overrides
    )


def _keys() -> str:
    return ",".join(f"{role}:{key}" for role, key in API_KEYS.items())


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEYS[role]}"}


@pytest.fixture(scope="session")
def server(seeded: str) -> Iterator[LiveServer]:
    with LiveServer(_test_settings(seeded)) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    """HTTP to the server on the read-only test database."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def rw_server(rw_url: str) -> Iterator[LiveServer]:
    with LiveServer(_test_settings(rw_url)) as live:
        yield live


@pytest.fixture
def rw(rw_server: LiveServer) -> Iterator[httpx.Client]:
    """HTTP to the server on the writable copy."""
    with httpx.Client(base_url=rw_server.url, timeout=30) as c:
        yield c


@pytest.fixture
def rw_conn(rw_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the writable copy (to arrange and check data)."""
    with psycopg.connect(libpq_conninfo(rw_url), autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium (tests/utils/browser.py), one per test module."""
    from tests.utils.browser import chromium

    with chromium() as b:
        yield b
