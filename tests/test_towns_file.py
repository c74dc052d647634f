"""``seed --towns FILE``: subdividing real town polygons instead of synthetic ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from citybrain.crs import LOCAL
from citybrain.errors import InvalidInput
from citybrain.synth.hierarchy import build_hierarchy, read_towns_file
from tests.utils.county import TOWNS_FILE


def test_real_towns_are_subdivided_exactly() -> None:
    h = build_hierarchy(np.random.default_rng(3), towns_file=TOWNS_FILE)
    real = read_towns_file(TOWNS_FILE)
    for code, geom in zip(h.towns.frame["code"], h.towns.geoms, strict=True):
        assert shapely.equals_exact(geom, real[code], tolerance=0) or geom.equals(real[code])
    # Every level covers the real county, without overlap: areas add up exactly.
    county = sum(g.area for g in real.values())
    for name, level in h.levels().items():
        assert abs(shapely.area(level.geoms).sum() - county) / county < 1e-6, name
    assert 160 <= len(h.villages.frame) <= 175
    assert 9000 <= len(h.micro_grids.frame) <= 11000


def test_unknown_town_name_is_refused(tmp_path) -> None:
    data = json.loads(TOWNS_FILE.read_text())
    data["features"][0]["properties"]["name"] = "不存在镇"
    bad = tmp_path / "towns.geojson"
    bad.write_text(json.dumps(data, ensure_ascii=False))
    with pytest.raises(InvalidInput, match="不存在镇"):
        read_towns_file(bad)


def test_unreadable_file_is_refused(tmp_path) -> None:
    bad = tmp_path / "towns.geojson"
    bad.write_text("not geojson")
    with pytest.raises(InvalidInput, match="cannot read"):
        read_towns_file(bad)


def test_local_metres_keep_edges_straight() -> None:
    # A point that clipping puts on an edge in metres is on that edge in WGS84 too.
    a, b = np.array([120.80, 30.95]), np.array([120.99, 30.78])
    xa, ya = LOCAL.forward(*a)
    xb, yb = LOCAL.forward(*b)
    mid = LOCAL.inverse(xa + 0.37 * (xb - xa), ya + 0.37 * (yb - ya))
    expected = a + 0.37 * (b - a)
    assert np.allclose(mid, expected, rtol=0, atol=1e-12)
    assert np.allclose(LOCAL.inverse(*LOCAL.forward(*a)), a, rtol=0, atol=1e-12)
