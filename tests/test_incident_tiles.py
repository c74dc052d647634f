"""The incident layer at county zoom: the open incidents plus a window, clustered per H3 cell
from the heat index. Checked against brute force over the rows (cells by h3-py, positions by
pyproj): every incident of the window counted once, in the tile that holds its cell's centre;
the same window strings select the same incidents here, in heatmaps and in OGC items; a write
shows at once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import mapbox_vector_tile
import mercantile
import numpy as np
import pandas as pd
import psycopg
import pytest
from pyproj import Transformer

from citybrain.tiles.heatmap import zoom_resolution
from tests.utils.county import SEED_END, now
from tests.utils.keys import auth

TZ = ZoneInfo("Asia/Shanghai")
TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
OPEN = {"reported", "dispatched", "on_site", "escalated"}
CENTRE = (120.91, 30.85)


@pytest.fixture(scope="module")
def incidents(seeded) -> pd.DataFrame:
    from citybrain.db.connection import libpq_conninfo

    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        cur = conn.execute(
            "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, reported_at, status, category "
            "FROM citybrain.incidents"
        )
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def shown(frame: pd.DataFrame, start, end, categories=None, statuses=None) -> pd.DataFrame:
    """Brute force: reported in [start, end) or open now; of these categories and statuses."""
    keep = ((frame["reported_at"] >= start) & (frame["reported_at"] < end)) | frame["status"].isin(
        OPEN
    )
    if categories:
        keep &= frame["category"].isin(categories)
    if statuses:
        keep &= frame["status"].isin(statuses)
    return frame[keep]


def cells_and_centres(frame: pd.DataFrame, res: int) -> pd.DataFrame:
    cells = [
        h3.latlng_to_cell(la, lo, res) for lo, la in zip(frame["lon"], frame["lat"], strict=True)
    ]
    centres = np.array([h3.cell_to_latlng(c) for c in cells]).reshape(-1, 2)
    x, y = TO_3857.transform(centres[:, 1], centres[:, 0])
    return frame.assign(cell=cells, x=x, y=y)


def in_tile(frame: pd.DataFrame, t: mercantile.Tile) -> pd.DataFrame:
    b = mercantile.xy_bounds(t)
    return frame[
        (frame["x"] >= b.left)
        & (frame["x"] < b.right)
        & (frame["y"] >= b.bottom)
        & (frame["y"] < b.top)
    ]


def clusters(client, t: mercantile.Tile, **params) -> dict[str, int]:
    r = client.get(f"/tiles/incidents/{t.z}/{t.x}/{t.y}.mvt", params=params)
    assert r.status_code == 200, r.text
    layer = mapbox_vector_tile.decode(r.content).get("incidents", {"features": []})
    out = {f["properties"]["h3"]: f["properties"]["count"] for f in layer["features"]}
    assert len(out) == len(layer["features"])  # one feature per cell
    return out


WINDOWS = [
    # (params, start, end, categories, statuses)
    ({"start": "2026-10-25", "end": "2026-11-01"}, "2026-10-25", "2026-11-01", None, None),
    ({"last": "30d", "end": SEED_END.isoformat()}, None, None, None, None),
    (
        {"start": "2026-01-01", "end": "2026-11-02", "category": "治安"},
        "2026-01-01",
        "2026-11-02",
        ["治安"],
        None,
    ),
    (
        {
            "start": "2026-09-01T08:00:00",
            "end": "2026-10-01T08:00:00",
            "status": ["closed", "reported"],
        },
        "2026-09-01T08:00:00",
        "2026-10-01T08:00:00",
        None,
        ["closed", "reported"],
    ),
]


def _bounds(params: dict, start, end) -> tuple[datetime, datetime]:
    if start is None:
        end_at = datetime.fromisoformat(params["end"])
        return end_at - timedelta(days=int(params["last"][:-1])), end_at

    def local(v):
        t = datetime.fromisoformat(v)
        return t.replace(tzinfo=TZ) if t.tzinfo is None else t

    return local(start), local(end)


@pytest.mark.parametrize("window", WINDOWS, ids=["week", "last30d", "category", "statuses"])
@pytest.mark.parametrize("z", [9, 12, 14])
def test_cluster_counts_are_brute_force(client, incidents, window, z) -> None:
    params, start, end, cats, statuses = window
    t0, t1 = _bounds(params, start, end)
    expected_rows = cells_and_centres(shown(incidents, t0, t1, cats, statuses), zoom_resolution(z))
    t = mercantile.tile(*CENTRE, z)
    got = clusters(client, t, **params)
    expected = Counter(in_tile(expected_rows, t)["cell"])
    assert got == dict(expected) and sum(got.values()) > 0


def test_no_incident_counted_twice_across_tiles(client, incidents) -> None:
    params = {"start": "2026-08-01", "end": "2026-11-01"}
    t0, t1 = _bounds(params, "2026-08-01", "2026-11-01")
    z = 13
    rows = cells_and_centres(shown(incidents, t0, t1), zoom_resolution(z))
    centre = mercantile.tile(*CENTRE, z)
    seen: Counter = Counter()
    total = 0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            t = mercantile.Tile(centre.x + dx, centre.y + dy, z)
            got = clusters(client, t, **params)
            seen.update(got.keys())
            total += sum(got.values())
            assert got == dict(Counter(in_tile(rows, t)["cell"]))
    assert max(seen.values()) == 1  # a cell (a cluster) is drawn in one tile only
    b0 = mercantile.xy_bounds(mercantile.Tile(centre.x - 1, centre.y + 1, z))
    b1 = mercantile.xy_bounds(mercantile.Tile(centre.x + 1, centre.y - 1, z))
    block = rows[
        (rows["x"] >= b0.left)
        & (rows["x"] < b1.right)
        & (rows["y"] >= b0.bottom)
        & (rows["y"] < b1.top)
    ]
    assert total == len(block) > 0


def test_the_same_strings_select_the_same_incidents_everywhere(client, incidents) -> None:
    """A window given as the same local-time strings: the heatmap's cells, the tiles' clusters
    (less the open ones outside the window) and OGC items' count agree."""
    start, end = "2026-10-20T00:00:00", "2026-10-27T00:00:00"  # no zone: Asia/Shanghai
    t0, t1 = _bounds({}, start, end)
    in_window = incidents[(incidents["reported_at"] >= t0) & (incidents["reported_at"] < t1)]
    assert not (incidents["reported_at"] == t1).any()  # OGC intervals include their end
    z = 9
    res = zoom_resolution(z)
    heat = client.get("/heatmap/incidents", params={"res": res, "start": start, "end": end}).json()
    assert heat["totals"]["incidents"] == len(in_window)
    heat_cells = {c["h3"]: c["value"] for c in heat["cells"]}
    outside_open = cells_and_centres(
        shown(incidents, t1, t1).drop(in_window.index, errors="ignore"), res
    )
    county = [t for t in mercantile.tiles(120.70, 30.70, 121.10, 31.05, z)]
    tiles: Counter = Counter()
    for t in county:
        tiles.update(clusters(client, t, start=start, end=end))
    expected = Counter(heat_cells) + Counter(outside_open["cell"])
    assert tiles == expected
    items = client.get(
        "/collections/incidents/items", params={"datetime": f"{start}/{end}", "limit": 1}
    ).json()
    assert items["numberMatched"] == len(in_window)


@pytest.mark.parametrize(
    "params",
    [{"last": "30d"}, {"last": "45d", "category": ["治安", "消防"], "status": ["closed"]}],
    ids=["last", "last-category-status"],
)
def test_a_window_ending_now_is_the_same_everywhere(client, incidents, params) -> None:
    """``last`` without ``end`` (what the big screen sends): the heatmap and the tiles take the
    same window (ending at the end of this minute) and the same incidents, and the heatmap's
    counts are brute force over the window it reports."""
    z = 9
    res = zoom_resolution(z)
    county = list(mercantile.tiles(120.70, 30.70, 121.10, 31.05, z))
    for _ in range(3):  # asked within one minute (else again: the window moved on)
        before = now().astimezone(TZ)
        heat = client.get("/heatmap/incidents", params={"res": res, **params}).json()
        tiles: Counter = Counter()
        for t in county:
            tiles.update(clusters(client, t, **params))
        after = now().astimezone(TZ)
        if before.replace(second=0, microsecond=0) == after.replace(second=0, microsecond=0):
            break
    t0 = datetime.fromisoformat(heat["window"]["start"])
    t1 = datetime.fromisoformat(heat["window"]["end"])
    assert t1 == before.replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert t1 - t0 == timedelta(days=int(params["last"][:-1]))
    cats, statuses = params.get("category"), params.get("status")
    rows = shown(incidents, t0, t1, cats, statuses)
    in_window = rows[(rows["reported_at"] >= t0) & (rows["reported_at"] < t1)]
    assert heat["totals"]["incidents"] == len(in_window) > 0
    heat_cells = {c["h3"]: c["value"] for c in heat["cells"]}
    assert heat_cells == dict(Counter(cells_and_centres(in_window, res)["cell"]))
    outside_open = cells_and_centres(rows.drop(in_window.index), res)
    assert tiles == Counter(heat_cells) + Counter(outside_open["cell"])


def test_high_zooms_show_each_incident_of_the_window(client, incidents) -> None:
    params = {"start": "2026-10-01", "end": "2026-11-01"}
    t0, t1 = _bounds(params, "2026-10-01", "2026-11-01")
    rows = shown(incidents, t0, t1)
    x, y = TO_3857.transform(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    rows = rows.assign(x=x, y=y)
    for z in (15, 16):
        t = mercantile.tile(*CENTRE, z)
        r = client.get(f"/tiles/incidents/{z}/{t.x}/{t.y}.mvt", params=params)
        got = {
            f["id"]
            for f in mapbox_vector_tile.decode(r.content).get("incidents", {"features": []})[
                "features"
            ]
        }
        b = mercantile.xy_bounds(t)
        pad = (b.right - b.left) * 64 / 4096
        inner = rows[
            (rows["x"] >= b.left)
            & (rows["x"] <= b.right)
            & (rows["y"] >= b.bottom)
            & (rows["y"] <= b.top)
        ]
        outer = rows[
            (rows["x"] >= b.left - pad)
            & (rows["x"] <= b.right + pad)
            & (rows["y"] >= b.bottom - pad)
            & (rows["y"] <= b.top + pad)
        ]
        assert set(inner["id"]) <= got <= set(outer["id"]) and got


def test_default_window_is_the_last_day_and_open_cases(client, incidents) -> None:
    """Without parameters the layer shows the last 24 hours (ending at the end of this minute,
    by the service's clock) and what is open."""
    z = 11
    t = mercantile.tile(*CENTRE, z)
    for _ in range(3):  # asked within one minute (else again: the window moved on)
        before = now()
        got = clusters(client, t)
        after = now()
        if before.replace(second=0, microsecond=0) == after.replace(second=0, microsecond=0):
            break
    end = before.replace(second=0, microsecond=0) + timedelta(minutes=1)
    window = shown(incidents, end - timedelta(hours=24), end)
    assert (window["status"].isin(OPEN) == False).any()  # noqa: E712 (the day's closed ones too)
    rows = cells_and_centres(window, zoom_resolution(z))
    assert got == dict(Counter(in_tile(rows, t)["cell"]))


def test_a_new_incident_shows_at_once(rw, rw_conn) -> None:
    z = 12
    lon, lat = 120.9101, 30.8502
    res = zoom_resolution(z)
    cell = h3.latlng_to_cell(lat, lon, res)
    clat, clon = h3.cell_to_latlng(cell)
    t = mercantile.tile(clon, clat, z)  # the tile that holds the cell's centre
    params = {"last": "7d"}
    before = clusters(rw, t, **params).get(cell, 0)
    r = rw.post(
        "/incidents",
        json={"lon": lon, "lat": lat, "category": "治安", "source": "grid_patrol"},
        headers={**auth("dispatcher"), "Idempotency-Key": "tiles-new-1"},
    )
    assert r.status_code in (200, 201), r.text
    after = clusters(rw, t, **params).get(cell, 0)
    assert after == before + 1
    # Reported two months ago and closed: out of the week's window, and not open: gone.
    new_id = r.json()["id"]
    rw_conn.execute(
        "UPDATE citybrain.incidents SET status = 'closed', "
        "reported_at = %s - interval '60 days', closed_at = %s WHERE id = %s",
        [now(), now(), new_id],
    )
    assert clusters(rw, t, **params).get(cell, 0) == before


def test_window_parameters_are_checked(client) -> None:
    t = mercantile.tile(*CENTRE, 12)
    base = f"/tiles/incidents/12/{t.x}/{t.y}.mvt"
    for params, words in (
        ({"last": "soon"}, "last"),
        ({"start": "yesterday"}, "start"),
        ({"category": "天气"}, "unknown category"),
        ({"status": "lost"}, "unknown status"),
        ({"start": "2026-10-02", "end": "2026-10-01"}, "ends before it starts"),
        ({"start": "2026-10-01", "last": "7d"}, "not both"),
    ):
        r = client.get(base, params=params)
        assert r.status_code == 400 and words in r.json()["detail"], (params, r.text)


def test_clusters_follow_every_kind_of_change(rw, rw_conn, rw_server) -> None:
    """Counted once, then followed by delta (a write costs what it changed): after inserts,
    moves, status changes and deletes the clusters still equal brute force."""
    from datetime import UTC

    z = 11
    res = zoom_resolution(z)
    params = {"start": "2026-10-01", "end": "2026-11-01"}
    t0, t1 = _bounds(params, "2026-10-01", "2026-11-01")
    c = mercantile.tile(*CENTRE, z)
    tiles = [mercantile.Tile(c.x + dx, c.y + dy, z) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]

    def brute() -> Counter:
        cur = rw_conn.execute(
            "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, reported_at, status, category "
            "FROM citybrain.incidents"
        )
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        rows = cells_and_centres(shown(frame, t0, t1), res)
        out: Counter = Counter()
        for t in tiles:
            out.update(Counter(in_tile(rows, t)["cell"]))
        return out

    def served() -> Counter:
        out: Counter = Counter()
        for t in tiles:
            out.update(clusters(rw, t, **params))
        return out

    first = brute()
    assert served() == first and sum(first.values()) > 100  # counted
    index = rw_server.app.state.citybrain.incident_index  # (keeps the windows' cells)
    counted = index.counted
    ids = [
        r[0]
        for r in rw_conn.execute(
            "SELECT id FROM citybrain.incidents WHERE reported_at >= %s AND reported_at < %s "
            "AND ST_X(geom) BETWEEN 120.85 AND 120.97 AND ST_Y(geom) BETWEEN 30.80 AND 30.90 "
            "ORDER BY id LIMIT 6",
            [t0, t1],
        )
    ]
    when = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
    rw_conn.execute(  # a new one in the window, and one long before it (open: shown too)
        "INSERT INTO citybrain.incidents (category, source, severity, status, tier, reported_at, "
        "updated_at, geom) VALUES ('治安', 'grid_patrol', 1, 'resolved', 'village', %s, now(), "
        "ST_SetSRID(ST_MakePoint(120.905, 30.855), 4326)), ('环境', 'grid_patrol', 1, "
        "'reported', 'village', %s, now(), ST_SetSRID(ST_MakePoint(120.93, 30.83), 4326))",
        [when, when - timedelta(days=200)],
    )
    rw_conn.execute(  # moved 2 km east
        "UPDATE citybrain.incidents SET geom = ST_Translate(geom, 0.02, 0) WHERE id = %s", [ids[0]]
    )
    rw_conn.execute(  # out of the window, closed: no longer shown
        "UPDATE citybrain.incidents SET reported_at = reported_at - interval '120 days', "
        "status = 'closed', dispatched_at = NULL, on_site_at = NULL, resolved_at = NULL, "
        "closed_at = reported_at WHERE id = %s",
        [ids[1]],
    )
    rw_conn.execute("DELETE FROM citybrain.incidents WHERE id = %s", [ids[2]])
    assert served() == brute() != first  # followed ...
    assert index.counted == counted and index.followed > 0  # ... not counted again
