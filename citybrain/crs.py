"""China's map coordinate systems: WGS84 (GPS, what we store), GCJ-02 (Amap, Tencent: the
national obfuscation, hundreds of metres off) and BD-09 (Baidu: GCJ-02 offset once more).

The forward transforms are the published formulas. There is no closed-form inverse; we invert
by fixed-point iteration: for a target ``t`` and forward map ``f = identity + δ`` with ``δ``
smooth and small, ``x ← x − (f(x) − t)`` contracts (|∂δ| ≪ 1) and reaches ``f(x) = t`` to
1e-12 degrees (about 0.1 µm) in a handful of steps. All functions take scalars or NumPy arrays.

>>> lon, lat = to_wgs84(120.9165, 30.8370, "gcj02")
>>> round(lon, 6), round(lat, 6)
(120.912374, 30.839429)
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import shapely

from citybrain.errors import InvalidInput

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-12
_MAX_ITER = 30


class CRS(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


def _out_of_china(lon, lat):
    # GCJ-02 only applies inside mainland China's rough bounding box.
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _dlat(x, y):
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x, y):
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def gcj02_to_bd09(lon, lat):
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon, lat):
    t_lon, t_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = t_lon.copy(), t_lat.copy()
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(x, y)
        e_lon, e_lat = f_lon - t_lon, f_lat - t_lat
        x, y = x - e_lon, y - e_lat
        if np.all(np.abs(e_lon) < _TOLERANCE_DEG) and np.all(np.abs(e_lat) < _TOLERANCE_DEG):
            break
    return x, y


def gcj02_to_wgs84(lon, lat):
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_wgs84(lon, lat):
    return _invert(wgs84_to_bd09, lon, lat)


def bd09_to_gcj02(lon, lat):
    return _invert(gcj02_to_bd09, lon, lat)


def to_wgs84(lon, lat, crs: CRS | str = CRS.wgs84):
    """WGS84 coordinates of a point given in ``crs``; scalars in, floats out."""
    try:
        crs = CRS(crs)
    except ValueError as exc:
        raise InvalidInput(f"unknown crs {crs!r}: use one of wgs84, gcj02, bd09") from exc
    if crs == CRS.gcj02:
        x, y = gcj02_to_wgs84(lon, lat)
    elif crs == CRS.bd09:
        x, y = bd09_to_wgs84(lon, lat)
    else:
        x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if np.ndim(x) == 0:
        return float(x), float(y)
    return x, y


def from_wgs84(lon, lat, crs: CRS | str = CRS.wgs84):
    """WGS84 coordinates in ``crs`` (for apps on Chinese basemaps); scalars or arrays."""
    crs = CRS(crs)
    forward = {CRS.gcj02: wgs84_to_gcj02, CRS.bd09: wgs84_to_bd09}.get(crs)
    x, y = forward(lon, lat) if forward else (np.asarray(lon, float), np.asarray(lat, float))
    if np.ndim(x) == 0:
        return float(x), float(y)
    return x, y


class LocalMetres:
    """Equirectangular metres around Jiashan's centre: an affine map of lon/lat (straight edges
    stay straight both ways), with scale error under 0.3 % across the county."""

    LON0, LAT0 = 120.90, 30.88
    KX = 111_320.0 * np.cos(np.radians(LAT0))  # metres per degree of longitude
    KY = 110_574.0  # metres per degree of latitude

    def forward(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.LON0) * self.KX, (np.asarray(lat) - self.LAT0) * self.KY

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) / self.KX + self.LON0, np.asarray(y) / self.KY + self.LAT0

    def to_metres(self, geoms):
        return shapely.transform(
            geoms, lambda xy: np.column_stack(self.forward(xy[:, 0], xy[:, 1]))
        )

    def to_wgs84(self, geoms):
        return shapely.transform(
            geoms, lambda xy: np.column_stack(self.inverse(xy[:, 0], xy[:, 1]))
        )


LOCAL = LocalMetres()


def min_metres_per_degree(lat: float) -> float:
    """A lower bound of metres per unit of planar lon/lat distance within a degree of ``lat``:
    geodesic distance >= this x planar degrees (used to bound KNN searches exactly)."""
    return 0.995 * 111_320.0 * float(np.cos(np.radians(min(abs(lat) + 1.0, 89.0))))
