"""Context beneath a map's data (``maps.add_context``): the roads kept near what a zoomed map
shows against distances laid out on the ellipsoid, the villages drawn whole with their code and
name, context beneath the data, and nothing fetched from outside the page."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
import shapely
from pyproj import Geod

from citybrain.analysis import maps

GEOD = Geod(ellps="WGS84")
HERE = (120.90, 30.85)


def north(metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(HERE[0], HERE[1], 0, metres)
    return lon, lat


def roads_north(*metres: float) -> gpd.GeoDataFrame:
    """East-west roads 2 km long whose nearest point to HERE is ``metres`` due north of it."""
    lines = []
    for d in metres:
        lon, lat = north(d)
        lines.append(shapely.LineString([(lon - 0.01, lat), (lon + 0.01, lat)]))
    return gpd.GeoDataFrame(
        {"id": [f"r{d:g}" for d in metres], "class": "street"}, geometry=lines, crs=4326
    ).set_index("id")


def here() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.Point(HERE)], crs=4326)


def test_roads_near_keep_those_within_the_distance() -> None:
    roads = roads_north(0, 100, 290, 310, 600)
    # Local metres are within 0.3 % of the ellipsoid: 290 and 310 m fall either side of 300.
    assert maps.roads_near(roads, here(), 300).index.tolist() == ["r0", "r100", "r290"]
    assert maps.roads_near(roads, here(), 0).index.tolist() == ["r0"]
    assert maps.roads_near(roads, here(), 1000).index.tolist() == roads.index.tolist()
    # A box 0.002° high (about 220 m) centred on HERE: the roads that cross it.
    box = (HERE[0] - 0.001, HERE[1] - 0.001, HERE[0] + 0.001, HERE[1] + 0.001)
    assert maps.roads_near(roads, box).index.tolist() == ["r0", "r100"]
    # Geometries in another CRS are measured where they are.
    assert maps.roads_near(roads, here().to_crs(3857), 300).index.tolist() == [
        "r0",
        "r100",
        "r290",
    ]
    with pytest.raises(ValueError, match="negative"):
        maps.roads_near(roads, here(), -1)


def test_context_lies_beneath_and_holds_what_it_should() -> None:
    village = gpd.GeoDataFrame(
        {"code": ["330421001001"], "name": ["测试村"], "kind": ["village"], "area": [1.0]},
        geometry=[shapely.box(HERE[0] - 0.01, HERE[1] - 0.01, HERE[0] + 0.01, HERE[1] + 0.01)],
        crs=4326,
    )
    m = maps.offline_map()
    maps.add_context(m, villages=village, roads=roads_north(0, 100, 600), near=here(), within_m=300)
    maps.add_layer(m, here(), "data")
    layers = [c for c in m._children.values() if hasattr(c, "layer_name")]
    assert [c.layer_name for c in layers] == ["村社区 villages", "道路 roads", "data"]
    villages, roads = layers[0].data["features"], layers[1].data["features"]
    assert [f["properties"] for f in villages] == [
        {"code": "330421001001", "name": "测试村", "kind": "village"}
    ]
    assert len(roads) == 2 and all(f["properties"] == {"class": "street"} for f in roads)
    page = m.get_root().render()
    assert not re.findall(r"https?://(?!www\.w3\.org)[^\s\"']+", page)
