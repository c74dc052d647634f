"""citybrain behind a real PgBouncer (Debian's 1.18) in transaction mode, with two server
connections for the whole server (``default_pool_size = 2``) so that its 16 pooled connections
really share them: concurrent reads and writes answer what SQL on the primary says; the live
stream still delivers (LISTEN on the direct connection); the statement deadline and the
least-privileged role still hold through the pooler (the login's own settings); PgBouncer's
admin console saw the traffic; and a server whose pooled login is privileged or unbounded
refuses to start, saying why."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import h3
import httpx
import mapbox_vector_tile
import mercantile
import psycopg
import pydantic
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from citybrain.api.deps import ConnDep
from citybrain.db.connection import libpq_conninfo
from citybrain.db.pools import UnsafeConnections, make_server_login, request_conninfo
from citybrain.settings import Settings
from tests.utils.county import SEED_END, point_in
from tests.utils.databases import clone_database, sibling
from tests.utils.events import Stream
from tests.utils.keys import auth
from tests.utils.pgbouncer import pgbouncer
from tests.utils.server import LiveServer, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

POOL_SIZE = 2  # PgBouncer's server connections per database and login
TIMEOUT_MS = 1500  # the deadline: the server's setting and the pooled login's
YEAR = {"start": "2025-11-01T00:00:00Z", "end": SEED_END.isoformat()}  # the seeded year only
EVERYTHING = {"start": "2025-10-01", "end": "2027-01-01"}  # a tile window holding every incident
CATEGORIES = ["治安", "环境", "城市管理", "消防"]


@pytest.fixture(scope="module")
def primary(seeded: str) -> str:
    """A copy of the seeded county of this module's own (the tests write)."""
    url = sibling(seeded, "_bouncer")
    clone_database(sibling(seeded, "_county"), url)
    return url


@pytest.fixture(scope="module")
def owner(primary: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_conninfo(primary), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def logins(primary: str, owner: psycopg.Connection) -> Iterator[tuple[dict, dict]]:
    """The pooler's logins (roles are the cluster's: names of this run's own): ``pooled``
    made as docs/pgbouncer.md says; ``unbounded`` a member of the server role without the
    deadline. Yields the logins' names (by kind, the owner's too) and their passwords."""
    tag = secrets.token_hex(3)
    made = {
        "pooled": (f"citybrain_pooled_{tag}", secrets.token_hex(16)),
        "unbounded": (f"citybrain_unbounded_{tag}", secrets.token_hex(16)),
    }
    settings = Settings(database_url=primary, statement_timeout_ms=TIMEOUT_MS)
    make_server_login(owner, settings, *made["pooled"])
    owner.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE citybrain_server").format(
            sql.Identifier(made["unbounded"][0]), sql.Literal(made["unbounded"][1])
        )
    )
    try:
        yield (
            {"owner": make_url(primary).username, **{k: v[0] for k, v in made.items()}},
            dict([(make_url(primary).username, make_url(primary).password), *made.values()]),
        )
    finally:
        for name, _ in made.values():
            owner.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def bouncer(primary: str, logins):
    _, passwords = logins
    # The same database again, its deadline set by PgBouncer's connect_query (a SET).
    by_set = f"connect_query='SET statement_timeout={TIMEOUT_MS}'"
    with pgbouncer(
        primary,
        passwords,
        databases={f"{make_url(primary).database}_cq": by_set},
        pool_size=POOL_SIZE,
    ) as b:
        yield b


def pooled_settings(primary: str, bouncer, logins, login: str = "pooled", **extra) -> Settings:
    names, passwords = logins
    return server_settings(
        bouncer.url(primary, names[login], passwords[names[login]], extra.pop("database", None)),
        pooler="pgbouncer",
        direct_database_url=primary,
        statement_timeout_ms=TIMEOUT_MS,
        **extra,
    )


async def _who(conn: ConnDep) -> dict:
    row = await (
        await conn.execute(
            "SELECT current_user, session_user, current_setting('statement_timeout'), "
            "(SELECT source FROM pg_settings WHERE name = 'statement_timeout')"
        )
    ).fetchone()
    return dict(zip(("role", "login", "statement_timeout", "source"), row, strict=True))


async def _slow(conn: ConnDep) -> dict:  # a stand-in for a query that reads too much
    await conn.execute("SELECT pg_sleep(3)")
    return {}


async def _edit_audit(conn: ConnDep) -> dict:
    """Try to rewrite the audit trail, as the role and as the login itself (SET LOCAL ROLE
    NONE: the transaction's, so nothing stays on PgBouncer's server connection)."""
    refused = {}
    for leave_role in (False, True):
        try:
            async with conn.transaction():
                if leave_role:
                    await conn.execute("SET LOCAL ROLE NONE")
                await conn.execute(
                    "UPDATE citybrain.incident_events SET note = 'rewritten' WHERE id = 1"
                )
        except psycopg.errors.InsufficientPrivilege as exc:
            refused["login" if leave_role else "role"] = str(exc.diag.message_primary)
    return refused


@pytest.fixture(scope="module")
def server(primary: str, bouncer, logins) -> Iterator[LiveServer]:
    live = LiveServer(pooled_settings(primary, bouncer, logins))
    for path, route in (("/test-who", _who), ("/test-slow", _slow), ("/test-audit", _edit_audit)):
        live.app.add_api_route(path, route)
    with live:
        yield live


def _cells(api: httpx.Client, res: int) -> Counter:
    r = api.get("/heatmap/incidents", params={"res": res, **YEAR})
    assert r.status_code == 200, r.text
    return Counter({c["h3"]: c["value"] for c in r.json()["cells"]})


def _tile_ids(api: httpx.Client, layer: str, t: mercantile.Tile, **params) -> set[int]:
    r = api.get(f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.mvt", params=params)
    assert r.status_code == 200, r.text
    layers = mapbox_vector_tile.decode(r.content) if r.content else {}
    return {f["id"] for f in layers.get(layer, {"features": []})["features"]}


def _tile_rows(conn: psycopg.Connection, table: str, t: mercantile.Tile, where: str = "true"):
    """The rows whose point lies in the tile (with its 64/4096 buffer): those well inside
    must be drawn, those within a tile unit of the edge may be."""
    b = mercantile.xy_bounds(t)
    unit = (b.right - b.left) / 4096
    out = []
    for grow in (64 * unit - unit, 64 * unit + unit):
        box = (b.left - grow, b.bottom - grow, b.right + grow, b.top + grow)
        out.append(
            {
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM citybrain.{table} WHERE ({where}) AND ST_Intersects("
                    "ST_Transform(geom, 3857), ST_MakeEnvelope(%s, %s, %s, %s, 3857))",
                    box,
                )
            }
        )
    return out


def test_concurrent_reads_and_writes_answer_what_the_primary_holds(
    server: LiveServer, bouncer, owner: psycopg.Connection, logins
) -> None:
    names, _ = logins
    rng = random.Random(17)
    before = owner.execute("SELECT count(*), max(id) FROM citybrain.incidents").fetchone()
    stats_before = {s["database"]: s for s in bouncer.show("STATS")}
    micro = rng.sample(range(1, 9000), 40)
    places = [point_in(owner, m) for m in micro]
    box = (120.85, 30.80, 120.95, 30.90)
    span = "2026-05-01T00:00:00Z/2026-05-15T00:00:00Z"
    centre = mercantile.tile(120.9119, 30.8502, 14)

    def write(i: int) -> dict:
        lon, lat = places[i]
        with server.client() as api:
            r = api.post(
                "/incidents",
                json={"lon": lon, "lat": lat, "category": CATEGORIES[i % 4]},
                headers=auth("dispatcher"),
            )
            assert r.status_code == 201, r.text
            made = r.json()
            rec = api.post(
                "/dispatch/recommend",
                json={"lon": lon, "lat": lat, "category": CATEGORIES[i % 4]},
                headers=auth("viewer"),
            )
            assert rec.status_code == 200, rec.text
            teams = [t["id"] for t in rec.json()["teams"]]
            assigned = None
            if teams:
                a = api.post(
                    f"/incidents/{made['id']}/assign",
                    json={"team_id": teams[0]},
                    headers=auth("dispatcher"),
                )
                assert a.status_code in (200, 409), a.text
                assigned = teams[0] if a.status_code == 200 else None
            return {
                "kind": "write",
                "id": made["id"],
                "lon": lon,
                "lat": lat,
                "category": CATEGORIES[i % 4],
                "team": assigned,
                "recommend": rec.json(),
            }

    def read(i: int) -> dict:
        with server.client() as api:
            kind = ("heatmap", "tile", "items", "locate")[i % 4]
            if kind == "heatmap":
                return {"kind": kind, "cells": _cells(api, 8)}
            if kind == "tile":
                return {"kind": kind, "ids": _tile_ids(api, "teams", centre)}
            if kind == "items":
                r = api.get(
                    "/collections/incidents/items",
                    params={"bbox": ",".join(map(str, box)), "datetime": span, "limit": 1000},
                )
                assert r.status_code == 200, r.text
                body = r.json()
                return {
                    "kind": kind,
                    "matched": body["numberMatched"],
                    "ids": {f["id"] for f in body["features"]},
                }
            lon, lat = places[i % len(places)]
            r = api.get("/locate", params={"lon": lon, "lat": lat})
            assert r.status_code == 200, r.text
            return {"kind": kind, "lon": lon, "lat": lat, "body": r.json()}

    jobs = [(write, i) for i in range(len(places))] + [(read, i) for i in range(80)]
    rng.shuffle(jobs)
    with ThreadPoolExecutor(16) as pool:
        done = list(pool.map(lambda job: job[0](job[1]), jobs))
    writes = [d for d in done if d["kind"] == "write"]

    # Writes: each stored once, where and what it was reported, its team as answered, and its
    # audit trail a report and (when assigned) an assignment.
    count, newest = owner.execute("SELECT count(*), max(id) FROM citybrain.incidents").fetchone()
    assert count == before[0] + len(writes) and newest == before[1] + len(writes)
    stored = {
        r[0]: r[1:]
        for r in owner.execute(
            "SELECT id, category, ST_X(geom), ST_Y(geom), team_id FROM citybrain.incidents "
            "WHERE id > %s",
            [before[1]],
        )
    }
    assert stored.keys() == {w["id"] for w in writes}
    for w in writes:
        category, lon, lat, team = stored[w["id"]]
        assert (category, team) == (w["category"], w["team"])
        assert lon == pytest.approx(w["lon"], abs=1e-9) and lat == pytest.approx(w["lat"], abs=1e-9)
    trail = Counter(
        owner.execute(
            "SELECT action FROM citybrain.incident_events WHERE incident_id > %s", [before[1]]
        ).fetchall()
    )
    assigned = sum(w["team"] is not None for w in writes)
    assert assigned > 0
    assert trail == Counter({("report",): len(writes), ("dispatch",): assigned})

    # Reads against SQL on the primary (the windows and places the writes do not change).
    seeded = owner.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM citybrain.incidents WHERE reported_at >= %s "
        "AND reported_at < %s",
        [datetime.fromisoformat(YEAR["start"]), SEED_END],
    ).fetchall()
    cells = Counter(h3.latlng_to_cell(lat, lon, 8) for lon, lat in seeded)
    must, may = _tile_rows(owner, "teams", centre)
    in_box = {
        r[0]
        for r in owner.execute(
            "SELECT id FROM citybrain.incidents WHERE ST_Intersects(geom, "
            "ST_MakeEnvelope(%s, %s, %s, %s, 4326)) AND reported_at >= '2026-05-01T00:00:00Z' "
            "AND reported_at <= '2026-05-15T00:00:00Z'",
            box,
        )
    }
    assert 0 < len(in_box) <= 1000
    for d in done:
        if d["kind"] == "heatmap":
            assert d["cells"] == cells
        elif d["kind"] == "tile":
            assert must <= d["ids"] <= may and must
        elif d["kind"] == "items":
            assert d["matched"] == len(in_box) and d["ids"] == in_box
        elif d["kind"] == "locate":
            assert d["body"]["micro_grid"]["id"] == _micro_grid(owner, d["lon"], d["lat"])
    for w in writes:
        rec = w["recommend"]
        grid_team = owner.execute(
            "SELECT t.id FROM citybrain.teams t JOIN citybrain.compounds c ON c.grid_id = "
            "t.grid_id JOIN citybrain.micro_grids m ON m.compound_id = c.id WHERE m.id = %s "
            "ORDER BY t.id LIMIT 1",
            [_micro_grid(owner, w["lon"], w["lat"])],
        ).fetchone()
        assert rec["location"]["micro_grid"]["id"] == _micro_grid(owner, w["lon"], w["lat"])
        assert (rec["responsible_team"] or {}).get("id") == (grid_team[0] if grid_team else None)

    # The new incidents are in their tiles (the tile cache told of the writes through the pooler).
    with server.client() as api:
        for w in writes[:10]:
            t = mercantile.tile(w["lon"], w["lat"], 16)
            assert w["id"] in _tile_ids(api, "incidents", t, **EVERYTHING)

    # The traffic went through PgBouncer, and its two server connections carried it all.
    stats = {s["database"]: s for s in bouncer.show("STATS")}
    db = owner.info.dbname
    transactions = stats[db]["total_xact_count"] - stats_before.get(db, {}).get(
        "total_xact_count", 0
    )
    assert transactions >= len(writes) * 3 + 80  # report, recommend, assign; each read
    pools = [
        p for p in bouncer.show("POOLS") if p["database"] == db and p["user"] == names["pooled"]
    ]
    assert len(pools) == 1
    servers = sum(pools[0][k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))
    assert 1 <= servers <= POOL_SIZE
    clients = [c for c in bouncer.show("CLIENTS") if c["user"] == names["pooled"]]
    assert len(clients) >= server.app.state.citybrain.settings.pool_size  # 16 shared 2
    on_primary = owner.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s",
        [names["pooled"], db],
    ).fetchone()[0]
    assert 1 <= on_primary <= POOL_SIZE


def _micro_grid(conn: psycopg.Connection, lon: float, lat: float) -> int:
    return conn.execute(
        "SELECT id FROM citybrain.micro_grids WHERE ST_Intersects(geom, "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326)) ORDER BY id LIMIT 1",
        [lon, lat],
    ).fetchone()[0]


def test_the_live_stream_delivers_through_the_direct_connection(
    server: LiveServer, owner: psycopg.Connection
) -> None:
    lon, lat = point_in(owner, 4321)
    stream = Stream(server.url, lambda got: len(got) >= 1)  # (no one else writes meanwhile)
    with server.client() as api:
        r = api.post(
            "/incidents",
            json={"lon": lon, "lat": lat, "category": "环境"},
            headers=auth("dispatcher"),
        )
        assert r.status_code == 201, r.text
    got = stream.join(10)
    assert [(e, p["id"], p["category"]) for e, p in got] == [("incident", r.json()["id"], "环境")]
    listening = owner.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'citybrain-events' "
        "AND datname = current_database()"
    ).fetchone()[0]
    assert listening == 1  # straight to the primary (PgBouncer's would be named otherwise)


def test_the_deadline_and_the_role_hold_through_the_pooler(server: LiveServer, logins) -> None:
    names, _ = logins
    with server.client() as api:
        for _ in range(6):  # (several: any of the pooler's server connections)
            assert api.get("/test-who").json() == {
                "role": "citybrain_server",
                "login": names["pooled"],
                "statement_timeout": f"{TIMEOUT_MS}ms",
                "source": "user",  # the login's own setting: no reset undoes it
            }
        started = time.monotonic()
        r = api.get("/test-slow")
        assert r.status_code == 503 and r.json()["code"] == "too_long", r.text
        assert "longer than 1.5 s" in r.json()["detail"]
        assert TIMEOUT_MS / 1000 <= time.monotonic() - started < 3
        assert api.get("/stats").status_code == 200  # the next request is served
        refused = api.get("/test-audit").json()
        assert set(refused) == {"role", "login"}, refused
        # refused by the grants (not only by the append-only trigger, which the owner meets)
        assert set(refused.values()) == {"permission denied for table incident_events"}


def test_startup_options_are_what_pgbouncer_refuses(primary: str, bouncer, logins) -> None:
    """Why pooler mode sends none: PgBouncer 1.18 refuses a connection that carries them."""
    settings = pooled_settings(primary, bouncer, logins)
    direct = request_conninfo(settings.model_copy(update={"pooler": "none"}))
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(direct).close()
    with psycopg.connect(request_conninfo(settings), prepare_threshold=None) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "citybrain_server"


def _start(settings: Settings) -> None:
    from citybrain.api.main import create_app

    app = create_app(settings)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(start())


@pytest.mark.parametrize(
    "login,database,why",
    [
        ("owner", None, "is a superuser or may create roles or databases"),
        ("unbounded", None, "statement_timeout is 0: statements may run for ever"),
        ("unbounded", "_cq", "statement_timeout was set by a SET"),
    ],
)
def test_a_privileged_or_unbounded_pooler_login_stops_the_start(
    primary: str, bouncer, logins, login: str, database: str | None, why: str
) -> None:
    db = make_url(primary).database + database if database else None
    settings = pooled_settings(primary, bouncer, logins, login, database=db)
    with pytest.raises(UnsafeConnections) as refused:
        _start(settings)
    detail = refused.value.detail
    assert why in detail and "ALTER ROLE <login> SET statement_timeout = 1500" in detail
    if login == "owner":
        assert f"role {logins[0]['owner']} " in detail and "audit trail" in detail


def test_a_pooler_needs_a_direct_url(primary: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="CITYBRAIN_DIRECT_DATABASE_URL"):
        Settings(database_url=primary, pooler="pgbouncer")
    with pytest.raises(pydantic.ValidationError, match="CITYBRAIN_DIRECT_DATABASE_URL"):
        Settings(database_url=primary, pooler="pgbouncer", direct_database_url=primary)
    assert Settings(database_url=primary).direct_sqlalchemy_url == primary


def test_without_a_pooler_the_role_the_options_set_is_checked_too(primary: str) -> None:
    with pytest.raises(UnsafeConnections, match="role postgres is a superuser") as refused:
        _start(server_settings(primary, server_role="postgres"))
    assert "CITYBRAIN_SERVER_ROLE must name a role that owns nothing" in refused.value.detail
