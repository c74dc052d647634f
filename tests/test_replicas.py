"""Read replicas (``CITYBRAIN_REPLICA_URLS``): a real streaming standby made by
``citybrain db up --replica`` of a cluster of this module's own; read-your-writes through
``Citybrain-LSN``, tiles and heatmaps exact through the replica, lagging and stopped replicas
skipped, and reads cancelled by recovery conflicts answered again by the primary."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import h3
import mapbox_vector_tile
import mercantile
import psycopg
import psycopg.errors
import pytest
from psycopg import sql

from citybrain.db import cluster
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.db.replicas import format_lsn, parse_lsn
from citybrain.settings import Settings
from citybrain.synth import build_county
from tests.utils.browser import open_screen, wait_idle
from tests.utils.cli import citybrain
from tests.utils.cluster import own_cluster
from tests.utils.county import SEED, SEED_END
from tests.utils.events import Stream
from tests.utils.keys import auth
from tests.utils.metrics import matching, scrape, value
from tests.utils.server import LiveServer, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

N = 3_000
MAX_LAG_S = 1.5
DISPATCHER = auth("dispatcher")


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict]:
    """A primary with a seeded county, and its streaming standby 1 made by the CLI."""
    with own_cluster("citybrain-replicas-") as settings:
        build_county(get_engine(settings.sqlalchemy_url), n_incidents=N, seed=SEED, end=SEED_END)
        env = {
            "CITYBRAIN_DATA_DIR": str(settings.data_dir),
            "CITYBRAIN_PG_PORT": str(settings.pg_port),
        }
        made = citybrain("", "db", "up", "--replica", "1", env=env)  # (no URL: embedded)
        said = made.stdout + made.stderr
        assert made.returncode == 0, said
        assert f"@127.0.0.1:{settings.pg_port + 1}/citybrain" in said
        assert ":***@" in said  # the password is never printed
        assert settings.superuser_password_file.read_text().strip() not in said
        replica = cluster.replica_url(settings, 1)
        with psycopg.connect(libpq_conninfo(replica), autocommit=True) as conn:
            # Recovery conflicts cancel a standby's queries at once (the default waits 30 s):
            # what test_recovery_conflicts_are_answered_by_the_primary needs to provoke.
            conn.execute("ALTER SYSTEM SET max_standby_streaming_delay = 0")
            conn.execute("SELECT pg_reload_conf()")
        yield {"settings": settings, "primary": settings.sqlalchemy_url, "replica": replica}


@pytest.fixture(scope="module")
def server(nodes) -> Iterator[LiveServer]:
    settings = server_settings(
        nodes["primary"],
        replica_urls=nodes["replica"],
        replica_max_lag_s=MAX_LAG_S,
        replica_check_s=0.2,
        metrics_access="anonymous",
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c


def _sql(url: str, statement: str, params=None) -> list[tuple]:
    for attempt in range(10):
        try:
            with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
                return conn.execute(statement, params).fetchall()
        except psycopg.errors.SerializationFailure:
            # The standby cancels queries at once on recovery conflicts (the fixture's
            # setting): the tests' own reads of it try again, as the server does.
            if attempt == 9:
                raise
    raise AssertionError("unreachable")


def _replayed(nodes) -> int:
    (text,), *_ = _sql(nodes["replica"], "SELECT pg_last_wal_replay_lsn()::text")
    return parse_lsn(text)


def _until(condition, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def _replay(nodes, paused: bool) -> None:
    _sql(nodes["replica"], f"SELECT pg_wal_replay_{'pause' if paused else 'resume'}()")


def _report(client, lon: float, lat: float, **extra) -> tuple[dict, str]:
    r = client.post(
        "/incidents", headers=DISPATCHER, json={"lon": lon, "lat": lat, "category": "治安", **extra}
    )
    assert r.status_code == 201, r.text
    return r.json(), r.headers["Citybrain-LSN"]


def _somewhere(nodes) -> tuple[float, float]:
    (lon, lat), *_ = _sql(
        nodes["primary"],
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
        "FROM citybrain.micro_grids ORDER BY id LIMIT 1 OFFSET 40) s",
    )
    return lon, lat


def test_the_standby_streams_the_primary(nodes) -> None:
    (recovery, sender), *_ = _sql(
        nodes["replica"],
        "SELECT pg_is_in_recovery(), (SELECT sender_port FROM pg_stat_wal_receiver)",
    )
    assert recovery and sender == nodes["settings"].pg_port
    (slot,), *_ = _sql(
        nodes["primary"],
        "SELECT active FROM pg_replication_slots WHERE slot_name = 'citybrain_replica1'",
    )
    assert slot
    counts = "SELECT count(*), max(id) FROM citybrain.incidents"
    _until(lambda: _sql(nodes["replica"], counts) == _sql(nodes["primary"], counts), what="copy")
    assert _sql(nodes["replica"], counts)[0][0] == N


def test_lsn_header_round_trips() -> None:
    for text in ("0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF"):
        assert format_lsn(parse_lsn(text)) == text
    assert parse_lsn("1/0") == 2**32


def test_read_your_writes(nodes, client) -> None:
    lon, lat = _somewhere(nodes)
    _replay(nodes, paused=True)
    try:
        made, lsn = _report(client, lon, lat)
        assert parse_lsn(lsn) > _replayed(nodes)  # the standby has not got it
        # With the LSN of its write, the dispatcher reads it at once: from the primary.
        r = client.get(f"/incidents/{made['id']}", headers={**DISPATCHER, "Citybrain-LSN": lsn})
        assert r.status_code == 200, r.text
        assert r.headers["Citybrain-Node"] == "primary"
        assert r.json() == made
    finally:
        _replay(nodes, paused=False)
    _until(lambda: _replayed(nodes) >= parse_lsn(lsn), what="replay")
    r = client.get(f"/incidents/{made['id']}", headers={**DISPATCHER, "Citybrain-LSN": lsn})
    assert r.status_code == 200
    assert r.headers["Citybrain-Node"] != "primary"  # the standby has it now: it answers
    assert r.json() == made
    (status,), *_ = _sql(
        nodes["replica"], "SELECT status FROM citybrain.incidents WHERE id = %s", [made["id"]]
    )
    assert r.json()["status"] == status
    # A later write's LSN is further on; a malformed one is the caller's error.
    assert parse_lsn(_report(client, lon, lat)[1]) > parse_lsn(lsn)
    bad = client.get(f"/incidents/{made['id']}", headers={**DISPATCHER, "Citybrain-LSN": "x/y"})
    assert bad.status_code == 400 and "Citybrain-LSN" in bad.json()["detail"]


def _heat(client, headers, start, end) -> tuple[Counter, str]:
    r = client.get(
        "/heatmap/incidents",
        params={"res": 9, "start": start.isoformat(), "end": end.isoformat()},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return Counter({c["h3"]: c["value"] for c in r.json()["cells"]}), r.headers["Citybrain-Node"]


def _brute(url: str, start, end) -> Counter:
    rows = _sql(
        url,
        "SELECT ST_X(geom), ST_Y(geom) FROM citybrain.incidents "
        "WHERE reported_at >= %s AND reported_at < %s",
        [start, end],
    )
    return Counter(h3.latlng_to_cell(lat, lon, 9) for lon, lat in rows)


def _tile_ids(client, t: mercantile.Tile, headers, params) -> tuple[set[int], str, str]:
    r = client.get(f"/tiles/incidents/{t.z}/{t.x}/{t.y}.mvt", params=params, headers=headers)
    assert r.status_code == 200, r.text
    layer = mapbox_vector_tile.decode(r.content).get("incidents", {"features": []})
    return {f["id"] for f in layer["features"]}, r.headers["ETag"], r.headers["Citybrain-Node"]


def test_tiles_and_heatmaps_exact_through_the_replica(nodes, client) -> None:
    start, end = SEED_END - timedelta(days=60), SEED_END + timedelta(days=60)
    heat, node = _heat(client, {}, start, end)
    assert node != "primary"
    assert heat == _brute(nodes["replica"], start, end) == _brute(nodes["primary"], start, end)

    lon, lat = _somewhere(nodes)
    t = mercantile.tile(lon, lat, 16)
    params = {"start": start.isoformat(), "end": end.isoformat()}
    before, etag, node = _tile_ids(client, t, {}, params)
    assert node != "primary"
    made, lsn = _report(client, lon, lat, reported_at=SEED_END.isoformat())
    assert made["id"] not in before
    # The caller that wrote sees its incident in the tile and the heatmap, whichever node
    # answers; the tile it held is not "not modified".
    after, etag_after, _ = _tile_ids(
        client, t, {"Citybrain-LSN": lsn, "If-None-Match": etag}, params
    )
    assert after == before | {made["id"]} and etag_after != etag
    heat_after, _ = _heat(client, {"Citybrain-LSN": lsn}, start, end)
    assert heat_after == _brute(nodes["primary"], start, end)
    assert heat_after - heat == Counter({h3.latlng_to_cell(lat, lon, 9): 1})
    # Once the standby has replayed it, it answers the same, exactly.
    _until(lambda: _replayed(nodes) >= parse_lsn(lsn), what="replay")
    again, etag_again, node = _tile_ids(client, t, {"Citybrain-LSN": lsn}, params)
    assert node != "primary" and again == after and etag_again == etag_after
    heat_again, node = _heat(client, {"Citybrain-LSN": lsn}, start, end)
    assert node != "primary" and heat_again == heat_after


def test_the_replicas_pool_in_metrics(nodes, server, client) -> None:
    """The replica's pool has the pool gauges under its name, and a request holding one of its
    connections is counted in use: a read of the teams layer that waits, on the standby, for
    an exclusive lock the primary holds in an open transaction (replayed, the standby's
    startup process holds it until the transaction ends)."""
    name = "replica1"
    in_use = "citybrain_db_pool_in_use"

    def gauge(metric: str) -> float:
        return value(scrape(client), metric, pool=name)

    _until(
        lambda: client.get("/collections/towns/items").headers["Citybrain-Node"] == name,
        what="the standby takes reads",
    )
    size = Settings().pool_size  # (the replica's pool is sized as the primary's)
    _until(
        lambda: gauge("citybrain_db_pool_connections") == size and gauge(in_use) == 0,
        what="the replica's pool at rest",
    )
    expected = {r[0] for r in _sql(nodes["primary"], "SELECT id FROM citybrain.teams")}
    answered: list = []

    def read() -> None:
        with server.client() as c:
            answered.append(c.get("/collections/teams/items", params={"limit": 2000}))

    reader = threading.Thread(target=read, daemon=True)
    with psycopg.connect(libpq_conninfo(nodes["primary"])) as holder:
        holder.execute("LOCK TABLE citybrain.teams IN ACCESS EXCLUSIVE MODE")
        # A commit after it flushes the lock's WAL record to the standby; once replayed there,
        # the standby holds the lock too.
        (_, lsn), *_ = _sql(
            nodes["primary"],
            "SELECT pg_current_xact_id()::text, pg_current_wal_insert_lsn()::text",
        )
        _until(lambda: _replayed(nodes) >= parse_lsn(lsn), what="the lock replayed")
        reader.start()
        _until(lambda: gauge(in_use) == 1, what="the waiting read's connection counted in use")
        assert reader.is_alive() and not answered  # still waiting for the lock
        assert gauge("citybrain_db_pool_waiting") == 0
        holder.rollback()
    reader.join(timeout=30)
    (r,) = answered
    assert r.status_code == 200, r.text
    assert r.headers["Citybrain-Node"] == name
    assert {f["id"] for f in r.json()["features"]} == expected
    _until(lambda: gauge(in_use) == 0, what="the connection back in the replica's pool")


def test_a_lagging_replica_is_skipped(nodes, client) -> None:
    lon, lat = _somewhere(nodes)
    _until(lambda: client.get("/collections/towns/items").headers["Citybrain-Node"] != "primary")
    _replay(nodes, paused=True)
    try:
        _report(client, lon, lat)  # the primary moves on; the standby does not
        _until(
            lambda: client.get("/collections/towns/items").headers["Citybrain-Node"] == "primary",
            timeout=MAX_LAG_S + 10,
            what="the lagging standby skipped",
        )
        samples = scrape(client)
        name = "replica1"  # (its place in CITYBRAIN_REPLICA_URLS: no address in answers)
        assert value(samples, "citybrain_replica_up", replica=name) == 0
        assert value(samples, "citybrain_replica_lag_seconds", replica=name) > MAX_LAG_S
        assert client.get("/readyz").json()["replicas"] == "0 of 1 take reads"
    finally:
        _replay(nodes, paused=False)
    _until(
        lambda: client.get("/collections/towns/items").headers["Citybrain-Node"] != "primary",
        what="the standby back",
    )
    assert client.get("/readyz").json()["replicas"] == "1 of 1 take reads"


def test_a_stopped_replica_is_skipped(nodes, client) -> None:
    expected = {r[0] for r in _sql(nodes["primary"], "SELECT id FROM citybrain.towns")}
    cluster.down_replica(nodes["settings"], 1)
    try:
        for _ in range(20):  # before and after the server's check notices: never an error
            r = client.get("/collections/towns/items")
            assert r.status_code == 200, r.text
            assert {f["id"] for f in r.json()["features"]} == expected
        assert r.headers["Citybrain-Node"] == "primary"
        assert client.get("/readyz").status_code == 200
    finally:
        cluster.up_replica(nodes["settings"], 1)
    _until(
        lambda: client.get("/collections/towns/items").headers["Citybrain-Node"] != "primary",
        what="the restarted standby back",
    )


def test_recovery_conflicts_are_answered_by_the_primary(nodes, client) -> None:
    """The primary keeps taking (WAL-logged) exclusive locks on the teams table; replaying them,
    the standby cancels its queries on it at once (max_standby_streaming_delay = 0). Reads of
    the teams layer hit such cancellations, and every one is answered anyway, right."""
    expected = {r[0] for r in _sql(nodes["primary"], "SELECT id FROM citybrain.teams")}
    assert len(expected) < 2000
    stop = threading.Event()

    def lock_forever() -> None:
        with psycopg.connect(libpq_conninfo(nodes["primary"])) as conn:
            while not stop.is_set():
                with conn.transaction():
                    conn.execute("LOCK TABLE citybrain.teams IN ACCESS EXCLUSIVE MODE")

    def retries() -> float:
        return value(scrape(client), "citybrain_read_retries_total", reason="recovery_conflict")

    before = retries()
    locker = threading.Thread(target=lock_forever, daemon=True)
    locker.start()
    answered = 0
    try:
        deadline = time.monotonic() + 60
        while retries() == before and time.monotonic() < deadline:
            for _ in range(20):
                r = client.get("/collections/teams/items", params={"limit": 2000})
                assert r.status_code == 200, r.text
                assert {f["id"] for f in r.json()["features"]} == expected
                answered += 1
    finally:
        stop.set()
        locker.join(timeout=10)
    assert retries() > before, f"no recovery conflict in {answered} reads"


def test_events_carry_the_write_position(nodes, server, client) -> None:
    """An event tells the screen how far to read (``lsn``): a read sent with it while the
    standby lags is answered by the primary, and shows the incident the event told of."""
    lon, lat = _somewhere(nodes)
    stream = Stream(server.url, lambda got: len(got) >= 1, events=("incident",))
    _replay(nodes, paused=True)
    try:
        (before,), *_ = _sql(nodes["primary"], "SELECT pg_current_wal_insert_lsn()::text")
        made, _ = _report(client, lon, lat)
        (event, told), *_ = stream.join()
        assert told["id"] == made["id"]
        assert parse_lsn(told["lsn"]) > parse_lsn(before)
        assert parse_lsn(told["lsn"]) > _replayed(nodes)
        r = client.get(
            f"/incidents/{made['id']}", headers={**DISPATCHER, "Citybrain-LSN": told["lsn"]}
        )
        assert r.status_code == 200 and r.headers["Citybrain-Node"] == "primary"
    finally:
        _replay(nodes, paused=False)


def test_the_screen_reads_what_its_events_told(nodes, server, client, browser) -> None:
    """The big screen keeps the newest event's ``lsn`` and sends it with its tile requests."""
    lon, lat = _somewhere(nodes)
    page, outside = open_screen(browser, server.url, lon, lat, 15)
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda rq: sent.append((rq.url, rq.headers.get("citybrain-lsn"))))
    answered: list[tuple[str, str | None]] = []
    page.on("response", lambda rs: answered.append((rs.url, rs.headers.get("citybrain-node"))))
    page.wait_for_function("document.getElementById('live').className === 'up'", timeout=10_000)
    assert page.evaluate("window.citybrain.written.lsn") is None  # nothing heard yet
    _replay(nodes, paused=True)
    try:
        made, _ = _report(client, lon, lat)
        page.wait_for_function("window.citybrain.written.lsn !== null", timeout=10_000)
        lsn = page.evaluate("window.citybrain.written.lsn")
        assert parse_lsn(lsn) > _replayed(nodes)
        del sent[:], answered[:]
        page.evaluate("() => window.citybrain.map.setZoom(16)")  # new tiles to fetch
        wait_idle(page)
        tiles = [(u, h) for u, h in sent if "/tiles/" in u]
        assert tiles and all(h == lsn for _, h in tiles), tiles[:3]
        nodes_seen = {h for u, h in answered if "/tiles/" in u}
        assert nodes_seen == {"primary"}  # the standby has not replayed it: not asked
    finally:
        _replay(nodes, paused=False)
        page.close()
    assert outside == []


def _lagging_server(nodes) -> LiveServer:
    """A server whose replica keeps taking reads however far it falls behind."""
    return LiveServer(
        server_settings(
            nodes["primary"],
            replica_urls=nodes["replica"],
            replica_max_lag_s=600,
            replica_check_s=0.2,
            metrics_access="anonymous",
        )
    )


def test_a_transaction_in_progress_is_not_missed_through_a_replica(nodes) -> None:
    """A standby's snapshot lists no transaction in progress (PostgreSQL keeps them where
    pg_snapshot_xip does not look): the heat index, catching up there, must still count an
    incident whose transaction was open then and commits later."""
    start, end = SEED_END - timedelta(days=60), SEED_END + timedelta(days=60)
    columns = [
        r[0]
        for r in _sql(
            nodes["primary"],
            "SELECT attname FROM pg_attribute WHERE attrelid = 'citybrain.incidents'::regclass "
            "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' "
            "AND attname NOT IN ('id', 'changed') ORDER BY attnum",
        )
    ]
    copy = sql.SQL(
        "INSERT INTO citybrain.incidents ({cols}) SELECT {cols} FROM citybrain.incidents "
        "WHERE reported_at >= %s ORDER BY id LIMIT 1 RETURNING id, pg_current_xact_id()::text"
    ).format(cols=sql.SQL(", ").join(map(sql.Identifier, columns)))
    with _lagging_server(nodes) as live, live.client() as client:
        _heat(client, {}, start, end)  # the index is loaded
        with psycopg.connect(libpq_conninfo(nodes["primary"])) as held:
            held_id, held_xid = held.execute(copy, [start]).fetchone()  # open, not committed
            # A later transaction commits first (not an incident: incident writes queue behind
            # the held one on the tile version counters), and the standby replays it.
            (later,), *_ = _sql(nodes["primary"], "SELECT pg_current_xact_id()::text")
            assert int(later) > int(held_xid)
            (lsn,), *_ = _sql(nodes["primary"], "SELECT pg_current_wal_insert_lsn()::text")
            _until(lambda: _replayed(nodes) >= parse_lsn(lsn), what="replay")
            (snapshot,), *_ = _sql(nodes["replica"], "SELECT pg_current_snapshot()::text")
            assert snapshot.endswith(":")  # the standby lists nothing in progress ...
            assert int(snapshot.split(":")[0]) <= int(held_xid)  # ... though the held one is
            seen, node = _heat(client, {}, start, end)
            assert node != "primary"
            held.commit()
        (now,), *_ = _sql(nodes["primary"], "SELECT pg_current_wal_insert_lsn()::text")
        _until(lambda: _replayed(nodes) >= parse_lsn(now), what="replay")
        after, node = _heat(client, {}, start, end)
        assert node != "primary"
        assert after == _brute(nodes["primary"], start, end) == _brute(nodes["replica"], start, end)
        assert sum(after.values()) == sum(seen.values()) + 1  # the held incident, counted
        assert held_id in {
            r[0] for r in _sql(nodes["replica"], "SELECT id FROM citybrain.incidents")
        }


def test_the_heat_index_never_goes_back_to_a_lagging_replica(nodes) -> None:
    """The heat index is ahead of a replica that lags: reads it serves get the index's newer
    (exact for the primary) answer, and alternating nodes reload nothing, even across a
    truncate the replica has not replayed. (Last: it empties the county.)"""
    start, end = SEED_END - timedelta(days=60), SEED_END + timedelta(days=60)
    with _lagging_server(nodes) as live, live.client() as client:  # (the paused replica serves)

        def loads() -> float:
            found = matching(scrape(client), "citybrain_heat_index_rebuilds_total", kind="load")
            return sum(found.values())

        def primary_now() -> str:
            return _sql(nodes["primary"], "SELECT pg_current_wal_insert_lsn()::text")[0][0]

        lon, lat = _somewhere(nodes)
        _replay(nodes, paused=True)
        try:
            made, lsn = _report(client, lon, lat, reported_at=SEED_END.isoformat())
            fresh, node = _heat(client, {"Citybrain-LSN": lsn}, start, end)
            assert node == "primary" and fresh == _brute(nodes["primary"], start, end)
            before = loads()
            for _ in range(3):
                seen, node = _heat(client, {}, start, end)
                assert node != "primary"
                assert seen == fresh  # the index's answer, ahead of the replica's rows
                assert _brute(nodes["replica"], start, end) != fresh  # (which lack the new one)
            assert loads() == before
            with psycopg.connect(libpq_conninfo(nodes["primary"]), autocommit=True) as conn:
                conn.execute("TRUNCATE citybrain.incidents CASCADE")
            empty, node = _heat(client, {"Citybrain-LSN": primary_now()}, start, end)
            assert node == "primary" and empty == Counter() and loads() == before + 1
            for _ in range(3):
                seen, node = _heat(client, {}, start, end)
                assert node != "primary" and seen == Counter()
            assert loads() == before + 1  # no reload from the replica's older generation
        finally:
            _replay(nodes, paused=False)
        _until(lambda: _replayed(nodes) >= parse_lsn(primary_now()), what="replay")
        seen, node = _heat(client, {}, start, end)
        assert node != "primary" and seen == Counter() == _brute(nodes["replica"], start, end)
        assert loads() == before + 1
