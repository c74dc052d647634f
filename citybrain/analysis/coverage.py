"""Camera coverage (雪亮工程): view sectors as polygons, the share of areas and incidents they
cover, and the busiest uncovered H3 cells — where to add cameras."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from citybrain.crs import LOCAL

ARC_STEPS = 16


def sector(lon: float, lat: float, heading: float, fov: float, range_m: float) -> shapely.Polygon:
    """A camera's view: the circular sector of radius ``range_m`` centred on ``heading``
    (degrees clockwise from north) spanning ``fov`` degrees; a disc when ``fov`` is 360.
    Built in local metres (affine to lon/lat, exact enough at a few hundred metres)."""
    x0, y0 = LOCAL.forward(lon, lat)
    if fov >= 360:
        ring = shapely.Point(x0, y0).buffer(range_m, quad_segs=ARC_STEPS)
    else:
        angles = np.radians(heading - fov / 2 + np.linspace(0, fov, ARC_STEPS + 1))
        arc = np.column_stack([x0 + range_m * np.sin(angles), y0 + range_m * np.cos(angles)])
        ring = shapely.Polygon([(x0, y0), *arc.tolist()])
    return LOCAL.to_wgs84(ring)


def sectors(cameras: gpd.GeoDataFrame, online_only: bool = True) -> gpd.GeoDataFrame:
    cams = cameras[cameras["online"]] if online_only else cameras
    geoms = [
        sector(g.x, g.y, h, f, r)
        for g, h, f, r in zip(
            cams.geometry, cams["heading"], cams["fov"], cams["range_m"], strict=True
        )
    ]
    return gpd.GeoDataFrame(cams.drop(columns="geom"), geometry=geoms, crs=4326)


def covered(points: gpd.GeoSeries, views: gpd.GeoDataFrame) -> pd.Series:
    """Whether each point lies in some view sector."""
    tree = shapely.STRtree(views.geometry.values)
    hit, _ = tree.query(points.values, predicate="intersects")
    out = np.zeros(len(points), dtype=bool)
    out[np.unique(hit)] = True
    return pd.Series(out, index=points.index)


def share_covered(areas: gpd.GeoDataFrame, views: gpd.GeoDataFrame) -> pd.Series:
    """The share (0-1) of each area's surface inside some view sector."""
    union = shapely.union_all(views.geometry.values)
    metric = "EPSG:6933"
    inside = gpd.GeoSeries(areas.geometry.intersection(union), crs=4326).to_crs(metric).area
    return (inside / areas.to_crs(metric).area).rename("covered_share")


def where_to_add_cameras(
    incidents: gpd.GeoDataFrame, is_covered: pd.Series, cell_column: str, top: int = 20
) -> pd.DataFrame:
    """H3 cells (``cell_column`` of the incidents, e.g. ``h3_9``) ranked by incidents that no
    camera saw: cells with the most uncovered incidents first."""
    frame = pd.DataFrame({"cell": incidents[cell_column], "covered": is_covered})
    ranked = frame.groupby("cell").agg(incidents=("covered", "size"), covered=("covered", "sum"))
    ranked["uncovered"] = ranked["incidents"] - ranked["covered"]
    ranked["covered_share"] = ranked["covered"] / ranked["incidents"]
    ranked = ranked.sort_values(["uncovered", "incidents"], ascending=False).head(top)
    ranked.index = [format(int(c), "x") for c in ranked.index]
    ranked.index.name = "h3"
    return ranked
