"""One incident index base per machine (services/incident_index/shared.py): processes map the
file one of them built, and every answer stays exact (h3-py on the database's rows) through
inserts, updates, deletes, folds, a bulk load past RELOAD_AT and a truncate."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import httpx
import psutil
import psycopg
import pytest

from citybrain.db.connection import libpq_conninfo
from citybrain.services.heatmap.encode import hexes
from citybrain.services.incident_index import REBUILD_AT, RELOAD_AT, IncidentIndex
from tests.utils.county import SEED_END
from tests.utils.metrics import matching, scrape, value
from tests.utils.serve import Serve

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

YEAR = (SEED_END - timedelta(days=365), SEED_END)
SPRING = (datetime(2026, 3, 15, 13, 30, tzinfo=UTC), datetime(2026, 9, 2, 7, 10, tzinfo=UTC))
# (res, window, categories, statuses): what each check asks, against brute force
ASKED = [
    (7, YEAR, None, None),
    (9, SPRING, ["交通"], None),
    (11, YEAR, None, ["closed"]),
    (10, SPRING, ["治安", "交通"], ["reported", "closed"]),
]
COPIED = (
    "category, source, severity, tier, reported_at, updated_at, h3, micro_grid_id, geom, "
    "h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11"
)

# Changes every row it touches (most of the county's incidents are closed already: setting
# the status would change few of them).
SHIFT = "UPDATE citybrain.incidents SET reported_at = reported_at - interval '1 minute' "


def brute(c: psycopg.Connection, res, window, categories, statuses) -> dict[str, int]:
    """Incidents per cell by h3-py on every row's point, filtered in Python."""
    rows = c.execute(
        "SELECT ST_X(geom), ST_Y(geom), category, status, reported_at FROM citybrain.incidents"
    ).fetchall()
    return dict(
        Counter(
            h3.latlng_to_cell(lat, lon, res)
            for lon, lat, cat, status, at in rows
            if window[0] <= at < window[1]
            and (categories is None or cat in categories)
            and (statuses is None or status in statuses)
        )
    )


def incidents(c: psycopg.Connection) -> int:
    return c.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]


def copy_incidents(c: psycopg.Connection, every: int, times: int) -> int:
    """Insert ``times`` copies of every ``every``-th incident (an hour earlier per copy, status
    reported), cells given as a bulk loader gives them; how many."""
    return c.execute(
        f"INSERT INTO citybrain.incidents (status, {COPIED}) "  # (constant text, no input)
        f"SELECT 'reported', {COPIED.replace('reported_at', 'reported_at - g * %s::interval')} "
        "FROM citybrain.incidents, generate_series(1, %s) g WHERE id %% %s = 0",
        ["1 hour", times, every],
    ).rowcount


def write_a_bit(c: psycopg.Connection) -> None:
    """Moved in time and recategorised, closed, inserted, deleted: by plain SQL."""
    c.execute(
        "UPDATE citybrain.incidents SET category = '交通', "
        "reported_at = reported_at - interval '33 days' WHERE id % 97 = 0"
    )
    c.execute("UPDATE citybrain.incidents SET status = 'closed' WHERE id % 79 = 0")
    copy_incidents(c, 71, 1)
    c.execute("DELETE FROM citybrain.idempotency_keys WHERE incident_id % 83 = 0")
    c.execute("DELETE FROM citybrain.incidents WHERE id % 83 = 0")


def truncate_and_refill(c: psycopg.Connection) -> None:
    """A truncate (a new generation), then a few incidents again."""
    c.execute(
        f"CREATE TEMP TABLE kept AS SELECT {COPIED} FROM citybrain.incidents WHERE id % 7 = 0"
    )
    c.execute("TRUNCATE citybrain.incidents CASCADE")
    c.execute(f"INSERT INTO citybrain.incidents (status, {COPIED}) SELECT 'reported', * FROM kept")
    c.execute("DROP TABLE kept")


def bases(directory: Path) -> list[Path]:
    """The base files of the one database directory under ``directory``."""
    (d,) = directory.glob("citybrain-heat-*")
    return sorted(d.glob("base-*.heat"))


# --- two indexes in one process, on one directory -----------------------------------------------


def test_indexes_share_one_base_and_stay_exact(fresh_county: str, tmp_path) -> None:
    """The first index builds the base, the second maps it (no load of its own); both equal
    brute force after each kind of write; the first past its ``rebuild_at`` folds and
    publishes, the other switches to that base; a bulk load and a truncate build one new base
    each."""
    from prometheus_client import REGISTRY

    def sample(name: str, **labels) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def loads() -> float:
        return sample("citybrain_heat_index_rebuilds_total", kind="load")

    async def run() -> None:
        url = libpq_conninfo(fresh_county)
        with psycopg.connect(url, autocommit=True) as c:
            async with (
                await psycopg.AsyncConnection.connect(url, autocommit=True) as ca,
                await psycopg.AsyncConnection.connect(url, autocommit=True) as cb,
            ):
                a, b = (IncidentIndex(tmp_path, rebuild_at=2000, reload_at=5000) for _ in "ab")

                async def check() -> None:
                    await a.fresh(ca)
                    await b.fresh(cb)
                    for res, window, categories, statuses in ASKED:
                        expected = brute(c, res, window, categories, statuses)
                        for index in (a, b):
                            cells, n = index.counts(res, *window, categories, statuses)
                            got = dict(zip(hexes(cells), n.tolist(), strict=True))
                            assert got == expected, (res, categories, statuses)
                    assert len(a) == len(b) == incidents(c)

                loaded, mapped = loads(), sample("citybrain_heat_index_shared_maps_total")
                await check()
                assert loads() == loaded + 1  # a read every incident; b did not
                assert sample("citybrain_heat_index_shared_maps_total") == mapped + 1
                (first,) = bases(tmp_path)
                assert a.shared_base == b.shared_base == first.name
                # (white-box: the arrays are views of the read-only mapping, not copies)
                assert not a._base.id.flags.writeable and not b._base.id.flags.writeable

                write_a_bit(c)  # fewer rows than REBUILD_AT: each keeps an overlay
                await check()
                assert bases(tmp_path) == [first] and 0 < a.overlay_rows <= 2000
                assert a.shared_base == b.shared_base == first.name

                c.execute(SHIFT + "WHERE id % 9 = 0")
                folds = sample("citybrain_heat_index_rebuilds_total", kind="fold")
                await check()  # a folds and publishes; b maps a's new base
                (second,) = bases(tmp_path)
                assert second != first and not a.overlay_rows and not b.overlay_rows
                assert a.shared_base == b.shared_base == second.name
                assert sample("citybrain_heat_index_rebuilds_total", kind="fold") == folds + 1
                assert loads() == loaded + 1

                assert copy_incidents(c, 3, 1) >= 5000  # a bulk load past RELOAD_AT
                await check()
                (third,) = bases(tmp_path)
                assert third not in (first, second) and loads() == loaded + 2
                assert a.shared_base == b.shared_base == third.name

                generation = a.generation
                truncate_and_refill(c)
                await check()
                (fourth,) = bases(tmp_path)  # the dead generation's file is gone
                assert a.generation == b.generation != generation
                assert f"base-{a.generation}-" in fourth.name and loads() == loaded + 3

    asyncio.run(run())


def test_unusable_directory_falls_back_to_a_base_of_its_own(seeded: str, tmp_path) -> None:
    """Where no directory can be made (here: under a file), the index holds its own base and
    is as exact."""
    blocker = tmp_path / "file"
    blocker.write_text("")

    async def run() -> None:
        url = libpq_conninfo(seeded)
        with psycopg.connect(url) as c:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                index = IncidentIndex(blocker / "shared")
                await index.fresh(conn)
                assert index.shared_base is None and index._store is None  # (given up)
                res, window, categories, statuses = ASKED[3]
                cells, n = index.counts(res, *window, categories, statuses)
                got = dict(zip(hexes(cells), n.tolist(), strict=True))
                assert got == brute(c, res, window, categories, statuses)

    asyncio.run(run())


# --- citybrain serve --workers 2 ----------------------------------------------------------------


def ask_everywhere(url: str, c: psycopg.Connection) -> None:
    """Every check asked on fresh connections (the kernel spreads them over the workers), each
    answer equal to brute force."""
    for res, window, categories, statuses in ASKED:
        expected = brute(c, res, window, categories, statuses)
        params = {"res": res, "start": window[0].isoformat(), "end": window[1].isoformat()}
        params |= {"category": categories or [], "status": statuses or []}
        for _ in range(16):
            r = httpx.get(
                f"{url}/heatmap/incidents", params=params, headers={"Connection": "close"}
            )
            assert r.status_code == 200, r.text
            got = {cell["h3"]: cell["value"] for cell in r.json()["cells"]}
            assert got == expected, (res, categories, statuses)


@pytest.fixture
def served_dir() -> Iterator[Path]:
    """A directory the server's processes may write in: ``citybrain serve`` started as root
    serves as CITYBRAIN_SERVE_USER, which cannot reach pytest's ``tmp_path`` (root's own, 0700),
    where every process would hold a base of its own."""
    path = Path(tempfile.mkdtemp(prefix="citybrain-shared-test-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_workers_map_one_base(fresh_county: str, served_dir: Path) -> None:
    """``citybrain serve --workers 2`` (and its dispatch process): one process reads the
    incidents, the others map its file (the kernel counts the pages once: the mapping's PSS
    summed over the processes is one RSS); answers equal brute force through writes, a fold,
    a bulk load past RELOAD_AT and a truncate, with one base file at a time."""
    with (
        psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as c,
        Serve(fresh_county, workers=2, CITYBRAIN_HEAT_SHARED_DIR=str(served_dir)) as s,
        httpx.Client(base_url=s.url, timeout=30) as client,
    ):
        pids = s.worker_pids()
        assert len(pids) == 3  # two public workers and the dispatch process
        m = scrape(client)
        assert value(m, "citybrain_heat_index_rebuilds_total", kind="load") == 1
        assert value(m, "citybrain_heat_index_shared_maps_total") == 2
        (base,) = bases(served_dir)
        shared = matching(m, "citybrain_heat_index_shared_bytes")
        assert {dict(lb)["pid"] for lb in shared} == {str(p) for p in pids}
        assert set(shared.values()) == {base.stat().st_size}

        ask_everywhere(s.url, c)
        maps = {}
        for pid in pids:
            (maps[pid],) = [mm for mm in psutil.Process(pid).memory_maps() if mm.path == str(base)]
        touched = [mm for mm in maps.values() if mm.rss > 0]
        assert len(touched) >= 2  # both workers answered from it
        # Shared, not copied: each page of the file counted once over the processes that map
        # it (the pages the workers touched may differ: their union, not any one's RSS, bounds
        # the sum), and no worker holds its pages alone.
        page = os.sysconf("SC_PAGE_SIZE")
        assert sum(mm.pss for mm in maps.values()) <= -(-base.stat().st_size // page) * page
        assert all(mm.pss < mm.rss for mm in touched)

        write_a_bit(c)
        ask_everywhere(s.url, c)
        assert bases(served_dir) == [base]

        assert copy_incidents(c, 1, 3) >= 50_000  # a bulk load past RELOAD_AT
        ask_everywhere(s.url, c)
        (bulk,) = bases(served_dir)
        m = scrape(client)
        assert bulk != base
        assert value(m, "citybrain_heat_index_rebuilds_total", kind="load") == 2

        before = scrape(client)
        changed = c.execute(SHIFT + "WHERE id % 3 = 0").rowcount
        assert REBUILD_AT < changed < RELOAD_AT
        ask_everywhere(s.url, c)  # one worker folds and publishes, the other maps it
        (folded,) = bases(served_dir)
        after = scrape(client)
        assert folded != bulk
        for name, labels, moved in (
            ("citybrain_heat_index_rebuilds_total", {"kind": "fold"}, 1),
            ("citybrain_heat_index_rebuilds_total", {"kind": "load"}, 0),
        ):
            assert value(after, name, **labels) - value(before, name, **labels) == moved

        truncate_and_refill(c)
        ask_everywhere(s.url, c)
        (last,) = bases(served_dir)
        m = scrape(client)
        assert last != folded and value(m, "citybrain_heat_index_rebuilds_total", kind="load") == 3
        counted = incidents(c)
        held = matching(m, "citybrain_heat_index_incidents")
        public = [v for lb, v in held.items() if dict(lb)["pid"] in {str(p) for p in pids}]
        assert public.count(counted) >= 2  # both workers hold exactly the database's count
