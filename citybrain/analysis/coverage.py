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
    return sector_polygons(lon, lat, heading, fov, range_m)[0]


def sector_polygons(lon, lat, heading, fov, range_m) -> np.ndarray:
    """``sector`` for arrays (broadcast against each other): one polygon per camera."""
    lon, lat, heading, fov, range_m = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=float)) for a in (lon, lat, heading, fov, range_m))
    )
    x0, y0 = LOCAL.forward(lon, lat)
    angles = np.radians(
        (heading - fov / 2)[:, None] + fov[:, None] * np.linspace(0, 1, ARC_STEPS + 1)
    )
    arc = np.stack(
        [
            x0[:, None] + range_m[:, None] * np.sin(angles),
            y0[:, None] + range_m[:, None] * np.cos(angles),
        ],
        axis=-1,
    )
    apex = np.stack([x0, y0], axis=-1)[:, None, :]
    out = shapely.polygons(np.concatenate([apex, arc, apex], axis=1))
    dome = fov >= 360
    if dome.any():
        centres = shapely.points(x0[dome], y0[dome])
        out[dome] = shapely.buffer(centres, range_m[dome], quad_segs=ARC_STEPS)
    return LOCAL.to_wgs84(out)


def sectors(cameras: gpd.GeoDataFrame, online_only: bool = True) -> gpd.GeoDataFrame:
    cams = cameras[cameras["online"]] if online_only else cameras
    geoms = sector_polygons(
        cams.geometry.x, cams.geometry.y, cams["heading"], cams["fov"], cams["range_m"]
    )
    return gpd.GeoDataFrame(cams.drop(columns="geom"), geometry=geoms, crs=4326)


def seen_by(points, views) -> tuple[np.ndarray, np.ndarray]:
    """Which view sectors hold which points: (point positions, view positions), one pair per
    point in a sector (points on its edge included)."""
    tree = shapely.STRtree(np.asarray(views))
    return tree.query(np.asarray(points), predicate="intersects")


def covered(points: gpd.GeoSeries, views: gpd.GeoDataFrame) -> pd.Series:
    """Whether each point lies in some view sector."""
    hit, _ = seen_by(points.values, views.geometry.values)
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
