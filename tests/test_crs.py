"""GCJ-02 and BD-09: forward formulas and exact inverses, against reference implementations
(prcoords and eviltransform, independent code bases), and through the API."""

from __future__ import annotations

import eviltransform
import httpx
import numpy as np
import prcoords
import pytest
from pyproj import Geod

from citybrain import crs

GEOD = Geod(ellps="WGS84")
RNG = np.random.default_rng(5)
# Jiashan and its surroundings, plus points across China.
POINTS = np.column_stack(
    [
        np.r_[RNG.uniform(120.70, 121.10, 300), RNG.uniform(75, 134, 200)],
        np.r_[RNG.uniform(30.70, 31.10, 300), RNG.uniform(18, 53, 200)],
    ]
)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_forward_matches_references() -> None:
    for lon, lat in POINTS:
        g = crs.wgs84_to_gcj02(lon, lat)
        ref = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
        assert abs(g[0] - ref.lon) < 1e-9 and abs(g[1] - ref.lat) < 1e-9
        ev = eviltransform.wgs2gcj(lat, lon)  # rounds its constants: agrees to ~1 cm
        assert metres(g[0], g[1], ev[1], ev[0]) < 0.05
        b = crs.wgs84_to_bd09(lon, lat)
        ref = prcoords.wgs_bd(prcoords.Coords(lat, lon))
        assert abs(b[0] - ref.lon) < 1e-9 and abs(b[1] - ref.lat) < 1e-9


def test_round_trips_are_exact() -> None:
    lon, lat = POINTS.T
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back).max() < 1e-3
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert metres(lon, lat, *back).max() < 1e-3


def test_inverses_agree_with_reference_within_a_metre() -> None:
    for lon, lat in POINTS:
        g = crs.wgs84_to_gcj02(lon, lat)
        ours = crs.gcj02_to_wgs84(*g)
        ref = prcoords.gcj_wgs_bored(prcoords.Coords(float(g[1]), float(g[0])))
        assert metres(ours[0], ours[1], ref.lon, ref.lat) < 1.0
        ev = eviltransform.gcj2wgs_exact(float(g[1]), float(g[0]))
        assert metres(ours[0], ours[1], ev[1], ev[0]) < 1.0
        b = crs.wgs84_to_bd09(lon, lat)
        ours = crs.bd09_to_wgs84(*b)
        ref = prcoords.bd_wgs_bored(prcoords.Coords(float(b[1]), float(b[0])))
        assert metres(ours[0], ours[1], ref.lon, ref.lat) < 1.0


def test_offsets_are_hundreds_of_metres_in_jiashan() -> None:
    g = crs.wgs84_to_gcj02(120.9119, 30.8502)
    assert 300 < metres(120.9119, 30.8502, *g) < 700
    assert crs.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)  # outside China: unchanged


def test_unknown_crs_is_invalid_input() -> None:
    with pytest.raises(crs.InvalidInput, match="unknown crs"):
        crs.to_wgs84(120.9, 30.8, "utm")


def test_api_converts_gcj02_and_bd09(client: httpx.Client) -> None:
    # The micro-grid's point on its surface, given in each system, locates to that micro-grid.
    wgs = client.get("/locate", params={"lon": 120.9119, "lat": 30.8502}).json()
    for name, fwd in (("gcj02", crs.wgs84_to_gcj02), ("bd09", crs.wgs84_to_bd09)):
        lon, lat = fwd(wgs["lon"], wgs["lat"])
        r = client.get("/locate", params={"lon": float(lon), "lat": float(lat), "crs": name})
        assert r.status_code == 200
        body = r.json()
        assert metres(body["lon"], body["lat"], 120.9119, 30.8502) < 0.01
        assert body["micro_grid"] == wgs["micro_grid"]


@pytest.mark.parametrize(
    "params",
    [
        {"lon": "abc", "lat": 30.8},
        {"lon": 181, "lat": 30.8},
        {"lon": 120.9, "lat": -91},
        {"lon": 120.9},
        {"lon": 120.9, "lat": 30.8, "crs": "mars"},
    ],
)
def test_bad_coordinates_are_422(client: httpx.Client, params: dict) -> None:
    r = client.get("/locate", params=params)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_request"
