"""The coordinate systems county data comes in, and the way to and from WGS84.

- EPSG codes (or any CRS PROJ knows) through pyproj, always easting/longitude first whatever
  the CRS's axis order (EPSG's Gauss-Krüger CRSs list northing first; surveyors call it X).
- ``gcj02`` (Amap, Tencent) and ``bd09`` (Baidu): the offsets of ``citybrain.crs``.
- CGCS2000 (EPSG:4490 and its projections such as 4549 and 4528) is taken as WGS84: the two
  agree to well under a metre here and PROJ applies no shift between them.
- Other datums (Xi'an 1980, Beijing 1954) have no transformation to WGS84 that PROJ can apply
  exactly: refused, unless the CRS given carries its own (``+towgs84=...``).
- A source without a CRS is read as WGS84 degrees only when its coordinates are degrees in the
  county; otherwise refused, naming the CRS its coordinates look like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from citybrain import crs as china
from citybrain.domain import COUNTY_REGION
from citybrain.errors import InvalidInput

WGS84 = CRS.from_epsg(4326)
# Datums taken as WGS84 (names as PROJ spells them).
SAME_AS_WGS84 = ("World Geodetic System 1984", "China 2000")
OFFSETS = {"gcj02": "GCJ-02 (Amap, Tencent)", "bd09": "BD-09 (Baidu)"}
ALIASES = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490", "crs84": "OGC:CRS84"}
# CGCS2000 3-degree Gauss-Krüger with the zone in the easting: zones 25-45 are EPSG:4513-4533.
ZONED_GK = {zone: 4513 + zone - 25 for zone in range(25, 46)}


@dataclass(frozen=True)
class Crs:
    """A source or target coordinate system: a pyproj CRS, or one of China's offsets."""

    label: str
    crs: CRS | None = None  # None for gcj02 / bd09 (offsets of WGS84 degrees)
    offset: str | None = None

    @property
    def projected(self) -> bool:
        return self.crs is not None and self.crs.is_projected

    @property
    def is_wgs84(self) -> bool:
        return self.offset is None and self.crs is not None and _same_as_wgs84(self.crs)


def _same_as_wgs84(crs: CRS) -> bool:
    if crs.is_projected:
        return False
    datum = crs.datum.name if crs.datum else ""
    return any(datum.startswith(d) for d in SAME_AS_WGS84) or datum.startswith("WGS")


def parse(text: str) -> Crs:
    """``--crs``: ``EPSG:n``, ``gcj02``, ``bd09``, ``wgs84``, ``cgcs2000``, or any CRS PROJ
    reads (WKT, a PROJ string with ``+towgs84``)."""
    key = text.strip().lower()
    if key in OFFSETS:
        return Crs(key, offset=key)
    try:
        crs = CRS.from_user_input(ALIASES.get(key, text.strip()))
    except CRSError as exc:
        raise InvalidInput(
            f"unknown crs {text!r}: use EPSG:<n> (e.g. EPSG:4549), gcj02, bd09 or wgs84"
        ) from exc
    return Crs(_label(crs), crs)


def _label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def checked(source: Crs) -> Crs:
    """``source`` if citybrain can bring it to WGS84 exactly enough; else a clear refusal."""
    if source.crs is None:
        return source
    geodetic = source.crs.geodetic_crs
    if source.crs.is_bound or (geodetic is not None and _same_as_wgs84(geodetic)):
        return source
    datum = source.crs.datum.name if source.crs.datum else "unknown"
    raise InvalidInput(
        f"{source.label} ({source.crs.name}) is on the {datum} datum, which PROJ cannot bring "
        "to WGS84 without the county's transformation parameters: convert the file to "
        "CGCS2000 in your GIS, or pass --crs with a PROJ definition that carries them "
        "(+towgs84=dx,dy,dz,rx,ry,rz,ds)"
    )


def _in_region(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    w, s, e, n = COUNTY_REGION
    return (x >= w) & (x <= e) & (y >= s) & (y <= n)


def guess_hint(x: np.ndarray, y: np.ndarray) -> str:
    """What coordinates that are not degrees in the county look like."""
    if not len(x):
        return ""
    mx, my = float(np.nanmedian(x)), float(np.nanmedian(y))
    if 1e7 <= mx < 1e8 and 2e6 <= my <= 6e6:
        zone = int(mx // 1e6)
        epsg = ZONED_GK.get(zone)
        if epsg:
            return (
                f"eastings of about {mx:,.0f} carry the zone prefix {zone}: this looks like "
                f"EPSG:{epsg} (CGCS2000 / 3-degree Gauss-Kruger zone {zone}); "
                f"pass --crs EPSG:{epsg}"
            )
    if 2e5 <= mx <= 8e5 and 2e6 <= my <= 6e6:
        return (
            f"eastings of about {mx:,.0f} m without a zone prefix: this looks like "
            "EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E, Jiashan's zone); "
            "pass --crs EPSG:4549 (or EPSG:4528 if the eastings began with 40)"
        )
    if 2e6 <= mx <= 6e6 and (2e5 <= my <= 8e5 or 1e7 <= my < 1e8):
        return (
            "the first coordinate looks like a northing: surveyors' X is the northing; map "
            "them as --map northing=X --map easting=Y"
        )
    return f"pass --crs (coordinates around {mx:,.6g}, {my:,.6g})"


def resolve(declared: str | None, file_crs: CRS | None, x: np.ndarray, y: np.ndarray) -> Crs:
    """The CRS to read a source in: ``--crs``, else the file's own, else WGS84 when its
    coordinates are degrees in the county; refused otherwise."""
    if declared:
        return checked(parse(declared))
    if file_crs is not None:
        return checked(Crs(_label(file_crs), file_crs))
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.any() and _in_region(x[finite], y[finite]).mean() >= 0.5:
        return Crs("EPSG:4326", WGS84)
    raise InvalidInput(
        "the source does not say its coordinate system and its coordinates are not degrees "
        f"in the county: {guess_hint(x[finite], y[finite])}"
    )


def _transformer(source: CRS, target: CRS) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def points_to_wgs84(x: np.ndarray, y: np.ndarray, source: Crs) -> tuple[np.ndarray, np.ndarray]:
    if source.offset:
        return china.to_wgs84(np.asarray(x, dtype=float), np.asarray(y, dtype=float), source.offset)
    if source.is_wgs84:
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return _transformer(source.crs, WGS84).transform(x, y)


def points_from_wgs84(lon: np.ndarray, lat: np.ndarray, target: Crs):
    if target.offset:
        return china.from_wgs84(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), target.offset
        )
    if target.is_wgs84:
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _transformer(WGS84, target.crs).transform(lon, lat)


def _apply(geoms: np.ndarray, fn) -> np.ndarray:
    def xy(coords: np.ndarray) -> np.ndarray:
        x, y = fn(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, xy)


def to_wgs84(geoms: np.ndarray, source: Crs) -> np.ndarray:
    """Geometries in ``source`` as WGS84 (2D: a Z is dropped)."""
    geoms = shapely.force_2d(geoms)
    if source.is_wgs84:
        return geoms
    return _apply(geoms, lambda x, y: points_to_wgs84(x, y, source))


def from_wgs84(geoms: np.ndarray, target: Crs) -> np.ndarray:
    if target.is_wgs84:
        return geoms
    return _apply(geoms, lambda x, y: points_from_wgs84(x, y, target))


def outside_region(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return ~_in_region(np.asarray(lon), np.asarray(lat))
