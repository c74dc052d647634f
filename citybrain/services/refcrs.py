"""Coordinate reference systems by reference (OGC API – Features Part 2): the CRSs the OGC
routes answer and read in (``crs``, ``bbox-crs``, ``filter-crs``), and how PostGIS moves a
geometry between one and the stored WGS84 (CRS84 axis order, EPSG:4326).

Axis order is the CRS's own: CRS84 and EPSG:3857 are x/y (longitude first, easting first);
EPSG:4326 and EPSG:4490 (CGCS2000) are latitude first, as EPSG defines them. CGCS2000 and
WGS84 agree to well under a metre in China, and PROJ transforms between them without a shift.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql
from pyproj import Transformer

from citybrain.errors import InvalidInput
from citybrain.services import bbox as boxes
from citybrain.services.bbox import BBox

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@dataclass(frozen=True)
class RefCrs:
    uri: str
    srid: int
    lat_first: bool  # the CRS's first axis is latitude (EPSG:4326, EPSG:4490)
    digits: int  # decimal places of coordinates written in it (7: ~1 cm in degrees; 3: 1 mm)


SUPPORTED = {
    c.uri: c
    for c in (
        RefCrs(CRS84, 4326, False, 7),
        RefCrs(f"{EPSG}4326", 4326, True, 7),
        RefCrs(f"{EPSG}4490", 4490, True, 7),
        RefCrs(f"{EPSG}3857", 3857, False, 3),
    )
}
DEFAULT = SUPPORTED[CRS84]


def parse(value: str | None, name: str) -> RefCrs:
    """A CRS given by its URI (also ``EPSG:4490``, ``[EPSG:4490]`` or ``CRS84``); 400 naming
    the ones supported."""
    if value is None:
        return DEFAULT
    text = value.strip().strip("[]")
    if text.upper() in ("CRS84", "OGC:CRS84"):
        text = CRS84
    elif text.upper().startswith("EPSG:"):
        text = EPSG + text[5:]
    found = SUPPORTED.get(text.replace("https://", "http://"))
    if found is None:
        raise InvalidInput(f"{name} {value!r} is not supported; one of: {', '.join(SUPPORTED)}")
    return found


def to_storage(geom: sql.Composable, crs: RefCrs) -> sql.Composable:
    """A geometry expression whose coordinates are in ``crs`` (no SRID), as stored (4326)."""
    if crs.lat_first:
        geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
    geom = sql.SQL("ST_SetSRID({}, {})").format(geom, sql.Literal(crs.srid))
    return geom if crs.srid == 4326 else sql.SQL("ST_Transform({}, 4326)").format(geom)


def from_storage(geom: sql.Composable, crs: RefCrs) -> sql.Composable:
    """A stored geometry expression (4326) in ``crs``, in its axis order."""
    if crs.srid != 4326:
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(crs.srid))
    return sql.SQL("ST_FlipCoordinates({})").format(geom) if crs.lat_first else geom


def bbox_to_crs84(box: BBox | tuple[float, ...], crs: RefCrs, name: str = "bbox") -> BBox:
    """A box given in ``crs`` (its axis order: lower corner first) as a CRS84 box, checked by
    the API's one bbox rule (services.bbox)."""
    if crs.uri == CRS84:
        return boxes.check(box, name)
    a, b, c, d = (float(v) for v in box)
    if a > c or b > d:
        raise InvalidInput(f"{name}: the lower corner comes first (in {crs.uri}'s axis order)")
    if crs.lat_first:
        a, b, c, d = b, a, d, c
    if crs.srid != 4326:
        t = Transformer.from_crs(crs.srid, "OGC:CRS84", always_xy=True)
        try:
            a, b, c, d = t.transform_bounds(a, b, c, d, densify_pts=21)
        except Exception as exc:  # pyproj.ProjError or inf: outside the CRS's domain
            raise InvalidInput(f"{name} is outside {crs.uri}'s area of use: {exc}") from None
    return boxes.check((a, b, c, d), name)
