"""A pilot county's data as it comes: the real towns, committee locations for the villages of
some towns only, nothing below. ``seed --keep`` fills the towns without villages and says
which; ``/locate`` answers as deep as the data goes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from citybrain.db.connection import libpq_conninfo
from citybrain.validate import find_violations
from tests.utils.cli import citybrain
from tests.utils.county import TOWNS_FILE
from tests.utils.offices import import_file, rows
from tests.utils.server import LiveServer, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

LEFT_OUT = "330421112"  # 天凝镇: the town whose villages the pilot has not collected yet
SEATS_PER_TOWN = 5


def _real_towns(url: str) -> gpd.GeoDataFrame:
    report = import_file(url, "towns", TOWNS_FILE)
    assert report.written and report.inserted == 9, report.as_dict()
    with psycopg.connect(libpq_conninfo(url)) as conn:
        t = rows(conn, "SELECT code, name, ST_AsBinary(geom) AS g FROM citybrain.towns")
    return gpd.GeoDataFrame(
        t[["code", "name"]], geometry=shapely.from_wkb([bytes(b) for b in t["g"]]), crs=4326
    )


def _seats(towns: gpd.GeoDataFrame, path, left_out: str | None) -> pd.DataFrame:
    """A civil-affairs village list: codes, names, the urban-rural code and the committee's
    location (WGS84), for every town but ``left_out``; points drawn inside each real town."""
    rng = np.random.default_rng(11)
    out = []
    for town in towns.itertuples():
        if town.code == left_out:
            continue
        x0, y0, x1, y1 = town.geometry.bounds
        found: list[tuple[float, float]] = []
        while len(found) < SEATS_PER_TOWN:
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if town.geometry.buffer(-0.002).contains(shapely.Point(x, y)):
                found.append((x, y))
        for i, (x, y) in enumerate(found):
            out.append(
                {
                    "统计用区划代码": f"{town.code}{201 + i:03d}",
                    "名称": f"{town.name[:2]}试点{i + 1}村",
                    "城乡分类代码": 220,
                    "经度": x,
                    "纬度": y,
                }
            )
    frame = pd.DataFrame(out)
    frame.to_csv(path, index=False)
    return frame


def _villages(url: str) -> pd.DataFrame:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return rows(
            conn,
            "SELECT v.code, v.name, v.derived, t.code AS town, ST_AsBinary(v.geom) AS g "
            "FROM citybrain.villages v JOIN citybrain.towns t ON t.id = v.town_id ORDER BY v.code",
        )


@pytest.mark.slow
def test_seed_keep_fills_the_towns_without_villages(fresh_empty, tmp_path) -> None:
    towns = _real_towns(fresh_empty)
    seats = _seats(towns, tmp_path / "村名录.csv", LEFT_OUT)
    report = import_file(fresh_empty, "villages", tmp_path / "村名录.csv", crs="wgs84")
    assert report.written and report.inserted == 8 * SEATS_PER_TOWN, report.as_dict()
    imported = _villages(fresh_empty)
    assert sorted(imported["town"].unique()) == sorted(set(towns["code"]) - {LEFT_OUT})

    done = citybrain(
        fresh_empty, "seed", "--keep", "towns,villages", "--incidents", "300", "--seed", "3"
    )
    assert done.returncode == 0, done.stderr + done.stdout
    said = " ".join((done.stdout + done.stderr).split())
    assert f"filled: no villages were imported in {LEFT_OUT};" in said

    after = _villages(fresh_empty)
    kept = after[after["code"].isin(seats["统计用区划代码"].astype(str))].reset_index(drop=True)
    # Every imported village exactly as imported (geometry byte for byte).
    assert kept["code"].tolist() == imported["code"].tolist()
    assert kept["name"].tolist() == imported["name"].tolist()
    assert [bytes(g) for g in kept["g"]] == [bytes(g) for g in imported["g"]]
    # The left-out town got villages of its own, marked derived; no other town got new ones.
    new = after[~after["code"].isin(kept["code"])]
    assert len(new) > 0 and set(new["town"]) == {LEFT_OUT}
    assert new["derived"].all() and new["code"].str.startswith(LEFT_OUT).all()
    town = towns.set_index("code").geometry[LEFT_OUT]
    filled = shapely.union_all(shapely.from_wkb([bytes(g) for g in new["g"]]))
    assert abs(filled.area - town.area) / town.area < 1e-6  # the whole town, no more
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        assert find_violations(conn) == []
        per_town = dict(
            conn.execute(
                "SELECT t.code, count(m.id) FROM citybrain.towns t "
                "LEFT JOIN citybrain.micro_grid_chain ch ON ch.town_id = t.id "
                "LEFT JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id GROUP BY 1"
            ).fetchall()
        )
    assert len(per_town) == 9 and min(per_town.values()) > 100


def test_seed_keep_with_every_town_filled_reports_nothing(fresh_empty, tmp_path) -> None:
    """The seed's own structure underneath: `filled` is empty when every town has villages."""
    from citybrain.db.connection import get_engine
    from citybrain.synth import build_county

    towns = _real_towns(fresh_empty)
    _seats(towns, tmp_path / "all.csv", None)
    assert import_file(fresh_empty, "villages", tmp_path / "all.csv", crs="wgs84").written
    counts = build_county(
        get_engine(fresh_empty), n_incidents=0, seed=3, keep=["towns", "villages"]
    )
    get_engine(fresh_empty).dispose()
    assert counts.filled == {} and counts["villages"] == 9 * SEATS_PER_TOWN


def test_locate_goes_as_deep_as_the_data(fresh_empty, tmp_path) -> None:
    """Towns and village seats, nothing below: a point inside answers its town and village
    (brute force over the polygons), depth "village"; outside every town, 404."""
    towns = _real_towns(fresh_empty)
    _seats(towns, tmp_path / "seats.csv", LEFT_OUT)
    assert import_file(fresh_empty, "villages", tmp_path / "seats.csv", crs="wgs84").written
    villages = _villages(fresh_empty)
    vgeoms = shapely.from_wkb([bytes(g) for g in villages["g"]])
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = towns.total_bounds
    with LiveServer(server_settings(fresh_empty)) as live, live.client() as client:
        asked = 0
        while asked < 60:
            x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
            in_town = towns[towns.contains(shapely.Point(x, y))]
            r = client.get("/locate", params={"lon": x, "lat": y})
            if in_town.empty:
                if not towns.intersects(shapely.Point(x, y)).any():
                    assert r.status_code == 404 and "no town contains it" in r.json()["detail"]
                continue
            asked += 1
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["town"]["code"] == in_town["code"].iloc[0]
            holding = villages["code"][shapely.contains_xy(vgeoms, x, y)].tolist()
            if holding:
                assert body["village"]["code"] == holding[0] and body["depth"] == "village"
                assert body["village"]["code"].startswith(body["town"]["code"])
            else:  # (the left-out town: no village holds the point yet)
                assert body["village"] is None and body["depth"] == "town"
                assert body["town"]["code"] == LEFT_OUT
            assert body["grid"] is None and body["micro_grid"] is None and body["team"] is None
