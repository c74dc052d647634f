"""Test fixtures: a real PostGIS database with a seeded synthetic county, and a real server.

The tests use the database server citybrain is configured with (``CITYBRAIN_DATABASE_URL``, or
the embedded cluster, brought up if needed) and databases of their own on it, ``<name>_test``
(``<name>_test_gw<n>`` for each parallel worker), copied from templates built once
(``tests/utils/databases.py``). Helpers live in ``tests/utils/``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from citybrain.db import cluster
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.services.routing import Router
from tests.utils import databases
from tests.utils.county import N_INCIDENTS, SEED, SEED_END, TOWNS_FILE
from tests.utils.databases import (
    changed_tables,
    clone_database,
    sibling,
    template,
    url_for_tests,
)
from tests.utils.server import LiveServer, server_settings


def pytest_configure(config: pytest.Config) -> None:
    # The servers the tests start run no alert detectors unless a test asks (they would write
    # alerts into the county that the other tests read; tests/test_alerts.py runs them).
    os.environ["CITYBRAIN_ALERTS_RUN"] = "false"
    # Time is the tests' to control: the county is seeded up to SEED_END, and every process of
    # the run (this one, its servers, its commands, parallel workers) runs on a clock that
    # reads SEED_END when the run starts (citybrain.clock). The suite passes on any day, and
    # under faketime.
    os.environ.setdefault("CITYBRAIN_CLOCK_AT", SEED_END.isoformat())
    os.environ.setdefault("CITYBRAIN_CLOCK_SINCE", datetime.now(UTC).isoformat())
    # What the suite needs from outside the tree is required, never skipped: PostgreSQL's
    # server programs (the tests that make clusters of their own) and the real town
    # boundaries in ../shared/data (scripts/test.sh installs the one; CI has the other).
    missing = []
    if not cluster.installed_versions():
        missing.append("PostgreSQL server binaries (scripts/bootstrap.sh installs them)")
    if not TOWNS_FILE.exists():
        missing.append(f"the real town boundaries at {TOWNS_FILE}")
    if missing:
        raise pytest.UsageError("the tests need " + " and ".join(missing))


READS_WRITE = {"access_log", "sessions", "login_failures"}


def _seed_the_county(url: str) -> None:
    from citybrain.synth import build_county

    build_county(get_engine(url), n_incidents=N_INCIDENTS, seed=SEED, end=SEED_END)


@pytest.fixture(scope="session")
def county_template() -> str:
    """The synthetic county (seed 7, 20,000 incidents up to SEED_END), seeded once for this
    code and shared by every worker and run (tests/utils/databases.py: template)."""
    return template("_tpl_county", _seed_the_county, SEED, N_INCIDENTS, SEED_END.isoformat())


@pytest.fixture(scope="session")
def db_url(county_template: str) -> str:
    """This worker's test database: a copy of the seeded county."""
    url = url_for_tests()
    clone_database(county_template, url)
    return url


@pytest.fixture(scope="session")
def seeded(db_url: str, county_template: str) -> Iterator[str]:
    """The test database with the synthetic county, read-only for the tests (checked when they
    are done); ``<name>_rw`` is a copy for the tests that write."""
    county = sibling(db_url, "_county")  # (compared at the end: the template may be in use)
    for url in (sibling(db_url, "_rw"), county):
        clone_database(county_template, url)
    yield db_url
    # (reads of personal data are logged, and logins open sessions: writes a read makes)
    changed = set(changed_tables(db_url, county)) - READS_WRITE
    assert not changed, f"tests wrote into the read-only county (use rw or fresh_county): {changed}"


@pytest.fixture(scope="session")
def empty_template() -> str:
    """A migrated database with no county in it, for fresh_empty to copy."""
    return databases.empty_template()


@pytest.fixture
def fresh_county(db_url: str, county_template: str) -> str:
    """A database of its own holding the seeded county, made again for each test."""
    url = sibling(db_url, "_fresh")
    clone_database(county_template, url)
    return url


@pytest.fixture(scope="module")
def fresh_county_module(db_url: str, county_template: str) -> str:
    """A database of its own holding the seeded county, for a module whose tests write
    (logins, case steps) but need not start from scratch each."""
    url = sibling(db_url, "_module")
    clone_database(county_template, url)
    return url


@pytest.fixture(scope="module")
def module_server(fresh_county_module: str) -> Iterator[LiveServer]:
    """A server of the module's county (logins unbounded per address: a module logs many in)."""
    with LiveServer(
        server_settings(fresh_county_module, login_failures_per_address=10_000)
    ) as live:
        yield live


@pytest.fixture(scope="module")
def module_owner(fresh_county_module: str) -> Iterator[psycopg.Connection]:
    """The owner's connection to the module's county: what tests read behind the API."""
    with psycopg.connect(libpq_conninfo(fresh_county_module), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def module_client(module_server: LiveServer) -> Iterator[httpx.Client]:
    with module_server.client() as client:
        yield client


@pytest.fixture
def fresh_empty(db_url: str, empty_template: str) -> str:
    """A migrated, empty database of its own, made again for each test."""
    url = sibling(db_url, "_empty_fresh")
    clone_database(empty_template, url)
    return url


@pytest.fixture(scope="session")
def rw_url(seeded: str) -> str:
    """A copy of the seeded database that tests may change (and must not count on)."""
    return sibling(seeded, "_rw")


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


@pytest.fixture(scope="session")
def server(seeded: str) -> Iterator[LiveServer]:
    with LiveServer(server_settings(seeded)) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    """HTTP to the server on the read-only test database."""
    with server.client() as c:
        yield c


@pytest.fixture(scope="session")
def rw_server(rw_url: str) -> Iterator[LiveServer]:
    with LiveServer(server_settings(rw_url)) as live:
        yield live


@pytest.fixture
def rw(rw_server: LiveServer) -> Iterator[httpx.Client]:
    """HTTP to the server on the writable copy."""
    with rw_server.client() as c:
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
