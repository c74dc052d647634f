"""``/readyz``: 503 naming the reason while the database is down, the schema is behind the
code or an index is not loaded, 200 again as soon as each is mended; ``/livez`` answers through
all of it (a database outage must not get servers restarted)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from citybrain.db import cluster, workhours
from citybrain.db.connection import libpq_conninfo
from citybrain.db.migrate import head_revision
from citybrain.settings import Settings
from tests.utils.cluster import own_cluster
from tests.utils.keys import auth
from tests.utils.server import LiveServer, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

RECOVERY_S = 10


def _until(client: httpx.Client, status: int) -> httpx.Response:
    deadline = time.monotonic() + RECOVERY_S
    while (r := client.get("/readyz", timeout=5)).status_code != status:
        assert time.monotonic() < deadline, f"/readyz still {r.status_code}: {r.text}"
        time.sleep(0.2)
    return r


def test_schema_behind(fresh_empty: str) -> None:
    with LiveServer(server_settings(fresh_empty)) as live, live.client() as c:
        assert c.get("/readyz").json() == {"status": "ok"}
        with psycopg.connect(libpq_conninfo(fresh_empty), autocommit=True) as conn:
            conn.execute("UPDATE citybrain.alembic_version SET version_num = '0014'")
            r = c.get("/readyz")
            assert r.status_code == 503
            assert r.json()["code"] == "not_ready"
            assert r.json()["reasons"] == [
                f"the schema is at revision 0014, this server needs {head_revision()}: "
                "run citybrain db migrate"
            ]
            assert c.get("/livez").status_code == 200
            # ahead of this code (a newer release migrated first in a rolling deploy): ready
            conn.execute("UPDATE citybrain.alembic_version SET version_num = '0099_newer'")
            assert c.get("/readyz").json() == {"status": "ok"}
            health = c.get("/healthz", headers=auth("viewer")).json()
            assert health["schema_revision"] == "0099_newer"
            # never migrated at all: not ready, and said so (not a 500)
            conn.execute("ALTER TABLE citybrain.alembic_version RENAME TO alembic_version_x")
            r = c.get("/readyz")
            assert r.status_code == 503
            assert r.json()["reasons"] == ["the schema is not migrated: run citybrain db migrate"]
            conn.execute("ALTER TABLE citybrain.alembic_version_x RENAME TO alembic_version")
            conn.execute("UPDATE citybrain.alembic_version SET version_num = %s", [head_revision()])
            assert c.get("/readyz").status_code == 200
            # an empty working calendar (what `db migrate` writes): not ready, and said so
            periods = conn.execute("SELECT count(*) FROM citybrain.work_periods").fetchone()[0]
            conn.execute("DELETE FROM citybrain.work_periods")
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["reasons"] == [
                "the working calendar is empty: run citybrain db migrate"
            ]
            assert workhours.store(conn, workhours.Calendar.of()) == periods  # (written again)
        assert c.get("/readyz").status_code == 200


def test_indexes_not_loaded(fresh_empty: str) -> None:
    with LiveServer(server_settings(fresh_empty)) as live, live.client() as c:
        live.app.state.citybrain.incident_index.loaded = False
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["reasons"] == ["the heat index is not loaded"]
        live.app.state.citybrain.incident_index.loaded = True
        assert c.get("/readyz").status_code == 200


@pytest.fixture(scope="module")
def own() -> Iterator[Settings]:
    with own_cluster("citybrain-ready-") as settings:
        yield settings


def test_database_down_then_back(own: Settings) -> None:
    with LiveServer(server_settings(own.sqlalchemy_url)) as live, live.client() as c:
        assert c.get("/readyz").status_code == 200
        assert cluster.down(own)
        r = _until(c, 503)
        assert r.json()["code"] == "not_ready"
        assert r.json()["reasons"][0] == "the database does not answer"
        assert c.get("/livez").json() == {"status": "ok"}
        cluster.up(own)
        assert _until(c, 200).json() == {"status": "ok"}
