"""Heatmaps and hotspots, cell by cell against brute force (h3-py on the raw points)."""

from __future__ import annotations

import asyncio
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta

import h3
import httpx
import mapbox_vector_tile
import mercantile
import numpy as np
import psycopg
import pytest
import shapely
from scipy.stats import norm

from tests.utils.county import SEED_END, point_in
from tests.utils.keys import auth

END = SEED_END
WINDOWS = [
    (END - timedelta(days=365), END),  # the whole year: months + days + raw edges
    (datetime(2026, 3, 15, 13, 30, tzinfo=UTC), datetime(2026, 9, 2, 7, 10, tzinfo=UTC)),
    (datetime(2026, 5, 3, 2, 0, tzinfo=UTC), datetime(2026, 5, 3, 19, 45, tzinfo=UTC)),  # in a day
    (END - timedelta(days=7), END),
    (END - timedelta(hours=24), END),
    (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)),  # whole months only
    # month edges read as months minus days, or as days, whichever is fewer:
    (datetime(2026, 3, 3, 10, tzinfo=UTC), datetime(2026, 7, 29, 5, tzinfo=UTC)),  # both minus
    (datetime(2026, 3, 28, 10, tzinfo=UTC), datetime(2026, 7, 3, 5, tzinfo=UTC)),  # both plus
    (datetime(2026, 5, 2, 6, tzinfo=UTC), datetime(2026, 5, 30, 18, tzinfo=UTC)),  # one month
    (datetime(2026, 4, 20, tzinfo=UTC), datetime(2026, 5, 10, tzinfo=UTC)),  # two months
    (datetime(2026, 4, 2, tzinfo=UTC), datetime(2026, 5, 30, tzinfo=UTC)),
    (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
]


@pytest.fixture(scope="module")
def points(seeded: str):
    from citybrain.db.connection import libpq_conninfo

    with psycopg.connect(libpq_conninfo(seeded)) as c:
        rows = c.execute(
            "SELECT ST_X(geom), ST_Y(geom), category, status, reported_at FROM citybrain.incidents"
        ).fetchall()
    return rows


def brute(points, res, start, end, categories=None, statuses=None) -> Counter:
    return Counter(
        h3.latlng_to_cell(lat, lon, res)
        for lon, lat, cat, status, at in points
        if start <= at < end
        and (categories is None or cat in categories)
        and (statuses is None or status in statuses)
    )


def get(client: httpx.Client, **params) -> dict:
    params = {k: v for k, v in params.items() if v is not None}
    for key in ("start", "end"):
        if isinstance(params.get(key), datetime):
            params[key] = params[key].isoformat()
    r = client.get("/heatmap/incidents", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def as_counter(body: dict) -> Counter:
    return Counter({c["h3"]: c["value"] for c in body["cells"]})


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w[0]:%m%d%H%M}-{w[1]:%m%d%H%M}")
@pytest.mark.parametrize("res", [5, 7, 9, 10, 11])
def test_counts_match_brute_force(client, points, window, res) -> None:
    body = get(client, res=res, start=window[0], end=window[1])
    expected = brute(points, res, *window)
    assert as_counter(body) == expected
    assert body["totals"]["incidents"] == sum(expected.values())


@pytest.mark.parametrize("categories", [["治安"], ["治安", "交通"], ["民生诉求"]])
@pytest.mark.parametrize("res", [6, 8, 11])
def test_category_filters(client, points, categories, res) -> None:
    start, end = WINDOWS[1]
    body = get(client, res=res, start=start, end=end, category=categories)
    assert as_counter(body) == brute(points, res, start, end, categories)


@pytest.mark.parametrize(
    "statuses",
    [
        ["reported"],
        ["closed"],
        ["closed", "resolved"],
        ["on_site", "closed"],
        ["on_site", "escalated", "dispatched"],
    ],
)
@pytest.mark.parametrize("res", [7, 9, 11])
def test_status_filters(client, points, statuses, res) -> None:
    start, end = WINDOWS[0]
    body = get(client, res=res, start=start, end=end, status=statuses)
    assert as_counter(body) == brute(points, res, start, end, statuses=statuses)


def test_totals_equal_sql_count(client, conn: psycopg.Connection) -> None:
    start, end = WINDOWS[1]
    body = get(client, res=8, start=start, end=end, category=["治安", "消防"])
    n = conn.execute(
        "SELECT count(*) FROM citybrain.incidents WHERE reported_at >= %s AND "
        "reported_at < %s AND category IN ('治安', '消防')",
        [start, end],
    ).fetchone()[0]
    assert body["totals"]["incidents"] == n and n > 100


@pytest.mark.parametrize("level", ["towns", "villages", "grids"])
def test_area_keeps_cells_whose_centre_is_inside(client, points, conn, level) -> None:
    code, wkb = conn.execute(
        f"SELECT code, ST_AsBinary(geom) FROM citybrain.{level} ORDER BY id LIMIT 1 OFFSET 3"
    ).fetchone()
    area = shapely.from_wkb(bytes(wkb))
    res = {"towns": 7, "villages": 8, "grids": 10}[level]
    start, end = WINDOWS[0]
    body = get(client, res=res, start=start, end=end, area=code)
    expected = Counter(
        {
            c: n
            for c, n in brute(points, res, start, end).items()
            if area.contains(shapely.Point(h3.cell_to_latlng(c)[::-1]))
        }
    )
    assert as_counter(body) == expected and expected


def test_bbox(client, points) -> None:
    bbox = (120.88, 30.82, 120.95, 30.87)
    start, end = WINDOWS[0]
    body = get(client, res=9, start=start, end=end, bbox=",".join(map(str, bbox)))
    expected = Counter(
        {
            c: n
            for c, n in brute(points, 9, start, end).items()
            if bbox[0] <= h3.cell_to_latlng(c)[1] <= bbox[2]
            and bbox[1] <= h3.cell_to_latlng(c)[0] <= bbox[3]
        }
    )
    assert as_counter(body) == expected and expected


def _population(conn: psycopg.Connection, res: int) -> dict[str, float]:
    """Residents per cell, by hand: each micro-grid's people spread evenly over its coverage
    cells, or put in the cell of its point on surface when it holds no cell centre."""
    cov: dict[int, list[int]] = {}
    for cell, mg in conn.execute("SELECT h3, micro_grid_id FROM citybrain.h3_coverage"):
        cov.setdefault(mg, []).append(cell)
    people: Counter = Counter()
    # A resolution-11 cell stands for the people around its centre: they live in the
    # coarser cell that contains that centre.
    for mg, pop, x, y in conn.execute(
        "SELECT id, population, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
        "FROM citybrain.micro_grids"
    ):
        cells = [h3.int_to_str(c) for c in cov.get(mg, [])] or [h3.latlng_to_cell(y, x, 11)]
        for c in cells:
            people[h3.latlng_to_cell(*h3.cell_to_latlng(c), res)] += pop / len(cells)
    return people


def test_per_1k(client, points, conn) -> None:
    start, end = WINDOWS[0]
    body = get(client, res=8, start=start, end=end, metric="per_1k")
    people = _population(conn, 8)
    counts = brute(points, 8, start, end)
    assert {c["h3"] for c in body["cells"]} == set(counts)
    for c in body["cells"]:
        assert c["count"] == counts[c["h3"]]
        assert c["population"] == pytest.approx(people[c["h3"]], abs=0.1)
        if people[c["h3"]] > 0:
            assert c["value"] == pytest.approx(counts[c["h3"]] / people[c["h3"]] * 1000, rel=1e-3)
    assert sum(people.values()) == pytest.approx(
        conn.execute("SELECT sum(population) FROM citybrain.micro_grids").fetchone()[0]
    )


def test_change(client, points) -> None:
    start, end = datetime(2026, 7, 10, 5, tzinfo=UTC), datetime(2026, 8, 20, 17, tzinfo=UTC)
    body = get(client, res=7, start=start, end=end, metric="change")
    now = brute(points, 7, start, end)
    before = brute(points, 7, start - (end - start), start)
    assert {c["h3"]: c["value"] for c in body["cells"]} == {
        c: now[c] - before[c] for c in set(now) | set(before)
    }
    assert body["totals"]["previous"] == sum(before.values())


def test_geojson(client, points) -> None:
    start, end = WINDOWS[3]
    r = client.get(
        "/heatmap/incidents",
        params={"res": 8, "start": start.isoformat(), "end": end.isoformat(), "format": "geojson"},
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    counts = brute(points, 8, start, end)
    assert {f["id"]: f["properties"]["value"] for f in fc["features"]} == dict(counts)
    for f in fc["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) in (6, 7)  # 5 for pentagons, never here
        poly = shapely.Polygon(ring)
        lat, lon = h3.cell_to_latlng(f["id"])
        assert poly.contains(shapely.Point(lon, lat))


def test_hotspots_match_hand_computed_gi_star(client, points, conn) -> None:
    res = 8
    start, end = WINDOWS[0]
    body = client.get(
        "/hotspots/incidents",
        params={"res": res, "start": start.isoformat(), "end": end.isoformat()},
    ).json()
    study = sorted(
        {
            h3.latlng_to_cell(*h3.cell_to_latlng(h3.int_to_str(c)), res)
            for (c,) in conn.execute("SELECT h3 FROM citybrain.h3_coverage")
        }
    )
    counts = brute(points, res, start, end)
    x = {c: counts.get(c, 0) for c in study}
    n = len(study)
    mean = sum(x.values()) / n
    s = (sum(v * v for v in x.values()) / n - mean**2) ** 0.5
    expected = {}
    for c in study:
        nbrs = [d for d in h3.grid_disk(c, 1) if d in x]
        w = len(nbrs)
        z = (sum(x[d] for d in nbrs) - mean * w) / (s * ((n * w - w * w) / (n - 1)) ** 0.5)
        p = 2 * norm.sf(abs(z))
        if p < 0.05:
            expected[c] = (z, p)
    got = {c["h3"]: (c["z"], c["p"], c["kind"]) for c in body["cells"]}
    assert set(got) == set(expected) and len(expected) > 5
    for c, (z, p) in expected.items():
        assert got[c][0] == pytest.approx(z, abs=1e-3)
        assert got[c][1] == pytest.approx(p, rel=1e-6, abs=1e-12)
        assert got[c][2] == ("hot" if z > 0 else "cold")
    assert body["totals"]["cells_tested"] == n


@pytest.mark.parametrize("ring", [1, 2, 3])
def test_hotspots_are_pysals_gi_star(client, points, conn, ring) -> None:
    """Every county cell's Gi* z-score as PySAL's esda computes it (G_Local, star, binary
    weights over grid_disk neighbours): the cells the API calls significant, and their z."""
    from esda.getisord import G_Local
    from libpysal.weights import W

    res = 7
    start, end = WINDOWS[1]
    body = client.get(
        "/hotspots/incidents",
        params={"res": res, "start": start.isoformat(), "end": end.isoformat(), "ring": ring},
    ).json()
    study = sorted(
        {
            h3.latlng_to_cell(*h3.cell_to_latlng(h3.int_to_str(c)), res)
            for (c,) in conn.execute("SELECT h3 FROM citybrain.h3_coverage")
        }
    )
    counts = brute(points, res, start, end)
    x = np.array([counts.get(c, 0) for c in study], dtype=float)
    index = {c: i for i, c in enumerate(study)}
    neighbours = {
        i: [index[d] for d in h3.grid_disk(c, ring) if d in index and d != c]
        for i, c in enumerate(study)
    }
    with warnings.catch_warnings():  # (libpysal on islands; esda's numba fallback)
        warnings.simplefilter("ignore")
        gi = G_Local(
            x, W(neighbours, silence_warnings=True), transform="B", star=True, permutations=0
        )
    p = 2 * norm.sf(np.abs(gi.Zs))
    expected = {study[i]: gi.Zs[i] for i in np.flatnonzero(p < 0.05)}
    got = {c["h3"]: c["z"] for c in body["cells"]}
    assert set(got) == set(expected) and len(expected) > 3
    for c, z in expected.items():
        assert got[c] == pytest.approx(z, abs=1e-3)
    assert body["totals"]["cells_tested"] == len(study)


@pytest.mark.parametrize("z", [11, 13, 15])
def test_heatmap_tile(client, points, z) -> None:
    """Every hexagon that reaches into the tile, with its exact count, and no other; checked
    with shapely on hexagons projected by mercantile."""
    from citybrain.tiles.heatmap import zoom_resolution

    lon, lat = 120.9119, 30.8502
    t = mercantile.tile(lon, lat, z)
    r = client.get(
        f"/tiles/heatmap/{z}/{t.x}/{t.y}.mvt", params={"last": "365d", "end": END.isoformat()}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(r.content)["heatmap"]
    got = {f["properties"]["h3"]: f["properties"]["value"] for f in layer["features"]}
    assert {f["id"] for f in layer["features"]} == {h3.str_to_int(c) for c in got}

    counts = brute(points, zoom_resolution(z), END - timedelta(days=365), END)
    b = mercantile.xy_bounds(t)
    pixel = (b.right - b.left) / 4096
    tile = shapely.box(b.left, b.bottom, b.right, b.top)
    buffered = tile.buffer(64 * pixel, join_style="mitre")

    def hexagon(cell: str) -> shapely.Polygon:
        return shapely.Polygon([mercantile.xy(x, y) for y, x in h3.cell_to_boundary(cell)])

    inside = {c for c in counts if hexagon(c).intersection(tile).area > 4 * pixel**2}
    assert inside and inside <= set(got)  # every hexagon that shows in the tile is there
    for cell, value in got.items():  # and nothing else, each with its exact count
        assert value == counts[cell]
        assert hexagon(cell).intersects(buffered)


@pytest.mark.parametrize(
    "params,code",
    [
        ({"res": 12}, 422),
        ({"res": -1}, 422),
        ({"start": "2026-11-01", "end": "2026-10-01"}, 400),
        ({"category": "外星人"}, 400),
        ({"status": "lost"}, 400),
        ({"area": "999999999"}, 400),
        ({"bbox": "1,2,3"}, 400),
        ({"bbox": "a,b,c,d"}, 400),
        ({"bbox": "121,31,120,30"}, 400),
        ({"last": "3 weeks"}, 400),
        ({"start": "yesterday"}, 400),
        ({"last": "7d", "start": "2026-01-01"}, 400),
        ({"metric": "sum"}, 422),
        ({"bbox": "120,30,121,31", "area": "330421001"}, 400),
    ],
)
def test_bad_parameters(client, params, code) -> None:
    r = client.get("/heatmap/incidents", params=params)
    assert r.status_code == code, r.text
    assert r.json()["code"] in ("invalid_input", "invalid_request") and r.json()["detail"]


def test_bad_tiles_and_hotspot_parameters(client) -> None:
    assert client.get("/tiles/heatmap/23/0/0.mvt").status_code == 422
    r = client.get("/tiles/heatmap/3/8/0.mvt")
    assert r.status_code == 400 and "outside" in r.json()["detail"]
    assert client.get("/hotspots/incidents", params={"res": 10}).status_code == 422
    assert client.get("/hotspots/incidents", params={"alpha": 1.5}).status_code == 422
    r = client.get("/hotspots/incidents", params={"area": "3304\x0021001"})  # found by fuzzing
    assert r.status_code == 422 and "NUL" in r.json()["detail"]


def test_writes_show_up_in_the_next_answer(rw, rw_conn: psycopg.Connection) -> None:
    lon, lat = point_in(rw_conn, 9100)
    cell = h3.latlng_to_cell(lat, lon, 9)

    def value(**extra) -> int:
        body = rw.get("/heatmap/incidents", params={"res": 9, "last": "2h", **extra}).json()
        return {c["h3"]: c["value"] for c in body["cells"]}.get(cell, 0)

    before, before_open = value(), value(status="reported")
    r = rw.post(
        "/incidents", headers=auth("dispatcher"), json={"lon": lon, "lat": lat, "category": "环境"}
    )
    assert r.status_code == 201
    assert value() == before + 1 and value(status="reported") == before_open + 1
    assert value(category="环境") >= 1
    # The status moves, the count stays.
    rw.post(f"/incidents/{r.json()['id']}/escalate", headers=auth("dispatcher"), json={})
    assert value() == before + 1 and value(status="reported") == before_open
    assert value(status="escalated") >= 1


def _rw_points(c: psycopg.Connection):
    return c.execute(
        "SELECT ST_X(geom), ST_Y(geom), category, status, reported_at FROM citybrain.incidents"
    ).fetchall()


def _matches_database(rw: httpx.Client, c: psycopg.Connection) -> None:
    """The server's heatmaps equal brute force over what the database holds now."""
    points = _rw_points(c)
    for res, window, extra in (
        (7, WINDOWS[0], {}),
        (9, WINDOWS[1], {"category": ["交通"]}),
        (11, WINDOWS[0], {"status": ["closed"]}),
        (10, WINDOWS[6], {"category": ["治安", "交通"], "status": ["reported", "closed"]}),
    ):
        body = get(rw, res=res, start=window[0], end=window[1], **extra)
        expected = brute(points, res, *window, extra.get("category"), extra.get("status"))
        assert as_counter(body) == expected, (res, extra)


def test_index_stays_exact_through_any_write(rw, rw_conn: psycopg.Connection) -> None:
    """Writes by anyone (here plain SQL, not the API): moved in time, recategorised, moved in
    space, new statuses, inserted, deleted; every answer after them is exact."""
    c = rw_conn
    _matches_database(rw, c)
    c.execute(
        "UPDATE citybrain.incidents SET category = '交通', "
        "reported_at = reported_at - interval '33 days' WHERE id % 97 = 0"
    )
    # Moved and inserted by a writer that gives no H3 cells: the database computes them.
    c.execute(
        "UPDATE citybrain.incidents i SET geom = s.geom "
        "FROM citybrain.incidents s WHERE s.id = 5 AND i.id % 89 = 0"
    )
    c.execute("UPDATE citybrain.incidents SET status = 'closed' WHERE id % 79 = 0")
    c.execute(
        "INSERT INTO citybrain.incidents (category, source, severity, status, tier, "
        "reported_at, updated_at, geom) "
        "SELECT category, source, severity, 'reported', tier, reported_at + interval '1 hour', "
        "now(), geom FROM citybrain.incidents WHERE id % 71 = 0"
    )
    # (an incident's audit entries go with it: the trail itself is append-only)
    c.execute("DELETE FROM citybrain.idempotency_keys WHERE incident_id % 83 = 0")
    c.execute("DELETE FROM citybrain.incidents WHERE id % 83 = 0")
    _matches_database(rw, c)


def test_transactions_that_commit_out_of_order(rw, rw_conn: psycopg.Connection, rw_url) -> None:
    """A transaction that began first but commits last is not missed: the index remembers
    which transactions were in progress when it last looked, not just the newest one."""
    from citybrain.db.connection import libpq_conninfo

    start, end = WINDOWS[0]
    ids = [
        r[0]
        for r in rw_conn.execute(
            "SELECT id FROM citybrain.incidents WHERE category <> '消防' "
            "AND reported_at >= %s AND reported_at < %s ORDER BY id LIMIT 2",
            [start, end],
        )
    ]

    def count(category: str) -> int:
        return get(rw, res=5, start=start, end=end, category=[category])["totals"]["incidents"]

    before = count("消防")
    with psycopg.connect(libpq_conninfo(rw_url)) as early:
        # A transaction that has begun (it holds a transaction id) but not yet written: every
        # incident write also bumps tile_versions, so two writers cannot overlap further.
        early.execute("SELECT pg_current_xact_id()")
        rw_conn.execute(  # a later transaction, committed at once
            "UPDATE citybrain.incidents SET category = '消防' WHERE id = %s", [ids[1]]
        )
        assert count("消防") == before + 1
        early.execute("UPDATE citybrain.incidents SET category = '消防' WHERE id = %s", [ids[0]])
        early.commit()
    assert count("消防") == before + 2
    _matches_database(rw, rw_conn)


def test_truncate_bumps_the_generation(rw_conn: psycopg.Connection, rw_url) -> None:
    from citybrain.db.connection import libpq_conninfo

    generation = "SELECT coalesce((SELECT value FROM citybrain.meta "
    generation += "WHERE key = 'incidents_generation'), '0')::bigint"
    with psycopg.connect(libpq_conninfo(rw_url)) as c:
        was = c.execute(generation).fetchone()[0]
        c.execute("DELETE FROM citybrain.incident_deletions")
        c.execute("INSERT INTO citybrain.incident_deletions (id) VALUES (1)")
        c.execute("TRUNCATE citybrain.incidents CASCADE")
        assert c.execute(generation).fetchone()[0] == was + 1
        assert c.execute("SELECT count(*) FROM citybrain.incident_deletions").fetchone()[0] == 0
        c.rollback()


def test_index_reloads_and_rebuilds(rw_conn: psycopg.Connection, rw_url) -> None:
    """The index by itself: a new generation reloads it; an overlay past its ``rebuild_at`` is
    folded into a new base; either way it keeps matching brute force."""
    from citybrain.db.connection import libpq_conninfo
    from citybrain.services.heatmap import encode
    from citybrain.services.incident_index import IncidentIndex

    start, end = WINDOWS[0]

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(
            libpq_conninfo(rw_url), autocommit=True
        ) as conn:
            index = IncidentIndex(rebuild_at=50)

            async def check() -> None:
                await index.fresh(conn)
                points = _rw_points(rw_conn)
                cells, n = index.counts(8, start, end, ["治安"])
                got = dict(zip(encode.hexes(cells), n.tolist(), strict=True))
                assert got == dict(brute(points, 8, start, end, ["治安"]))
                assert len(index) == len(points)

            await check()
            base = index._base  # (white-box: which base it holds)
            rw_conn.execute(
                "UPDATE citybrain.incidents SET category = '治安' WHERE id %% 211 = 0 AND id < %s",
                [211 * 40],
            )
            await check()
            assert index._base is base and 0 < index.overlay_rows <= 50
            rw_conn.execute("UPDATE citybrain.incidents SET category = '治安' WHERE id % 173 = 0")
            await check()
            assert index._base is not base and not index.overlay_rows  # rebuilt
            rebuilt = index._base
            rw_conn.execute(
                "INSERT INTO citybrain.meta (key, value) VALUES ('incidents_generation', '-7') "
                "ON CONFLICT (key) DO UPDATE SET value = '-7'"
            )
            await check()
            assert index._base is not rebuilt and index.generation == "-7"  # reloaded

    asyncio.run(run())


def test_cells_json_matches_orjson() -> None:
    """The byte-table JSON of cells equals what orjson makes of the same objects."""
    import numpy as np
    import orjson

    from citybrain.services.heatmap.encode import cells_json, hexes

    cells = [h3.str_to_int(h3.latlng_to_cell(30.85, 120.91, r)) for r in range(0, 16)]
    assert hexes(np.array(cells, dtype=np.int64)) == [format(c, "x") for c in cells]
    rng = np.random.default_rng(3)
    cells = np.sort(rng.choice(cells, 16, replace=False))
    value = np.array([0, -1, 1, 9, 10, -10, 99, 100, 101, 1000, 1005, -9999, 123456, 7, 70, 0])
    count = np.arange(16) * 1_000_003
    got = cells_json(cells, value=value, count=count)
    expected = [
        {"h3": format(int(c), "x"), "value": int(v), "count": int(n)}
        for c, v, n in zip(cells, value, count, strict=True)
    ]
    assert got == orjson.dumps(expected)
    assert cells_json(np.zeros(0, dtype=np.int64), value=np.zeros(0, dtype=np.int64)) == b"[]"
