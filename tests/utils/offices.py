"""Files as county offices hold them, made from a database's own rows: GBK Shapefiles in
CGCS2000 Gauss-Krüger without a ``.cpg``, GCJ-02 / BD-09 lists, village seats, 12345 work
orders. Coordinates are converted with peer libraries (pyproj, prcoords), never with
citybrain's own code, so that an import is checked against an independent computation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import prcoords
import psycopg
import pyogrio
import shapely
from pyproj import CRS, Transformer

from citybrain.crs import LOCAL

DBF_LDID_OFFSET = 29  # the DBF header byte naming the code page (0: none)


def rows(conn: psycopg.Connection, query: str, params=None) -> pd.DataFrame:
    cur = conn.execute(query, params or [])
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def points_on(conn: psycopg.Connection, table: str, n: int) -> pd.DataFrame:
    """``code``, ``lon`` and ``lat`` (a point on its surface) of a level's first ``n`` units by
    code."""
    return rows(
        conn,
        "SELECT code, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat "
        f"FROM citybrain.{table} ORDER BY code LIMIT %s",
        [n],
    )


def polygons(conn: psycopg.Connection, table: str, parent: str | None = None) -> pd.DataFrame:
    """``code``, ``name``, (``parent``: the parent's code) and ``geom`` (shapely, WGS84)."""
    if parent:
        parent_table, fk = parent.split(".")
        frame = rows(
            conn,
            f"SELECT t.code, t.name, p.code AS parent, ST_AsBinary(t.geom) AS wkb "
            f"FROM citybrain.{table} t JOIN citybrain.{parent_table} p ON p.id = t.{fk} "
            "ORDER BY t.code",
        )
    else:
        frame = rows(
            conn,
            f"SELECT code, name, ST_AsBinary(geom) AS wkb FROM citybrain.{table} ORDER BY code",
        )
    frame["geom"] = shapely.from_wkb([bytes(b) for b in frame.pop("wkb")])
    return frame


def to_crs(geoms, epsg: int) -> np.ndarray:
    """WGS84 geometries in an EPSG CRS, easting first (as Shapefiles store them), by pyproj."""
    t = Transformer.from_crs(4326, epsg, always_xy=True)
    return shapely.transform(
        np.asarray(geoms, dtype=object), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
    )


def gbk_shapefile(
    path: Path, frame: pd.DataFrame, geoms, epsg: int | None, prj: bool = True
) -> Path:
    """A Shapefile with a GBK attribute table that declares nothing (no .cpg, code page byte
    0), Chinese field names, and a .prj for ``epsg`` (or none)."""
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(list(geoms)), crs=epsg)
    with warnings.catch_warnings():  # no CRS is the point when epsg is None
        warnings.simplefilter("ignore", UserWarning)
        pyogrio.write_dataframe(gdf, path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    dbf = path.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    data[DBF_LDID_OFFSET] = 0
    dbf.write_bytes(bytes(data))
    if not prj:
        path.with_suffix(".prj").unlink(missing_ok=True)
    return path


def gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    out = np.array([prcoords.wgs_gcj((la, lo), True) for lo, la in zip(lon, lat, strict=True)])
    return out[:, 1], out[:, 0]


def bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    out = np.array([prcoords.wgs_bd((la, lo), True) for lo, la in zip(lon, lat, strict=True)])
    return out[:, 1], out[:, 0]


def metres_apart(a, b) -> np.ndarray:
    """Hausdorff distance in metres between aligned WGS84 geometries."""
    return shapely.hausdorff_distance(
        LOCAL.to_metres(np.asarray(a, dtype=object)), LOCAL.to_metres(np.asarray(b, dtype=object))
    )


def crs_wkt(epsg: int) -> str:
    return CRS.from_epsg(epsg).to_wkt("WKT1_ESRI")


def import_file(url: str, layer: str, path: Path, **options):
    """``citybrain import`` through the library, as the CLI and the API call it."""
    from citybrain.db.connection import libpq_conninfo
    from citybrain.importer.run import Options, run_import

    with psycopg.connect(libpq_conninfo(url)) as conn:
        return run_import(conn, layer, Path(path), Options(**options), "test", "Asia/Shanghai")


def rejected(report) -> list[tuple[int | None, str, str]]:
    """(row, field, reason) of each rejection, in row order."""
    return sorted(
        ((e.row, e.field, e.reason) for e in report.entries if e.outcome == "rejected"),
        key=lambda t: (t[0] or 0, t[1]),
    )
