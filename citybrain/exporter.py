"""``citybrain export``: a layer, filtered, to the files county offices and GIS tools use -
GeoPackage, GeoJSON, Shapefile (UTF-8 with a ``.cpg``), GeoParquet, CSV and XLSX - in WGS84 or
any CRS (``gcj02`` for apps on Chinese basemaps).

The columns are the ones ``citybrain import`` takes for the layer (its file in ``layers/``), so an
export imported again gives the same rows: parents by their codes, lists as text, times in ISO
8601 with their offset, the source's own columns (``attributes``) back as columns (with
``personal``: they may hold names and phones). Incidents that citybrain made itself (no outside
number) are named ``citybrain-<county>-<id>``, which an import into that county matches back.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from citybrain.domain import CASE_FILE, MemberRole
from citybrain.errors import InvalidInput
from citybrain.importer import coords, values
from citybrain.importer.write import own_prefix
from citybrain.layers import Layer, check_against_database, importable
from citybrain.layers.columns import ROLE_LABELS

FORMATS = {
    "gpkg": ("GPKG", ".gpkg"),
    "geojson": ("GeoJSON", ".geojson"),
    "shp": ("ESRI Shapefile", ".shp"),
    "parquet": (None, ".parquet"),
    "csv": (None, ".csv"),
    "xlsx": (None, ".xlsx"),
}
DBF_TEXT_BYTES = 254
XLSX_CELL_CHARS = 32_767
XLSX_ROWS = 1_048_576
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>|~)\s*(.*?)\s*$")
_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "LIKE"}


@dataclass
class Exported:
    rows: int
    path: Path
    notes: list[str]


def format_of(target: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
        return fmt
    for name, (_, suffix) in FORMATS.items():
        if target.suffix.lower() == suffix:
            return name
    raise InvalidInput(
        f"cannot tell the format from {target.name}: give --format ({', '.join(FORMATS)})"
    )


def _select(layer: Layer, own: str) -> tuple[sql.Composable, dict[str, sql.Composable]]:
    """The layer's export query (without conditions) and each column's SQL expression: a
    column that refers to another table's row (a parent, a team) as that row's code."""
    t = sql.Identifier("t")
    exprs: dict[str, sql.Composable] = {}
    joins: list[sql.Composable] = []
    attributes = sql.SQL("t.attributes")
    if layer.case_file:  # its case file holds what is not a public fact
        joins.append(sql.SQL("LEFT JOIN citybrain.case_files f ON f.incident_id = t.id"))
        attributes = sql.SQL("f.attributes")
    for column in layer.columns.values():
        name = column.name
        if layer.case_file and name in CASE_FILE:
            exprs[name] = sql.SQL("f.{}").format(sql.Identifier(name))
        elif column.ref is not None:
            alias = sql.Identifier(f"ref_{name}")
            joins.append(
                sql.SQL("LEFT JOIN {} {} ON {}.id = t.{}").format(
                    sql.Identifier("citybrain", column.ref.table),
                    alias,
                    alias,
                    sql.Identifier(column.ref.fk),
                )
            )
            exprs[name] = sql.SQL("{}.code").format(alias)
        elif name == "external_id":
            exprs[name] = sql.SQL("coalesce(t.external_id, {} || t.id)").format(sql.Literal(own))
        else:
            exprs[name] = sql.SQL("{}.{}").format(t, sql.Identifier(name))
    query = sql.SQL(
        "SELECT {cols}, {attributes} AS attributes, ST_AsBinary(t.geom) FROM {table} t {joins}"
    ).format(
        cols=sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(e, sql.Identifier(n)) for n, e in exprs.items()
        ),
        attributes=attributes,
        table=sql.Identifier("citybrain", layer.table),
        joins=sql.SQL(" ").join(joins),
    )
    return query, exprs


def conditions(
    layer: Layer, exprs: dict[str, sql.Composable], where: list[str], timezone: str
) -> tuple[sql.Composable, list]:
    """``--where column op value`` (op: = != < <= > >= ~; ``=a,b`` is one of; ``~`` is LIKE
    with ``*`` as the wildcard), ANDed, on the exported columns; values are bound."""
    parts: list[sql.Composable] = []
    params: list = []
    kinds = {c.name: c.kind for c in layer.columns.values()}
    for item in where:
        m = _WHERE.match(item)
        if not m or m.group(1) not in exprs:
            raise InvalidInput(
                f"--where {item!r}: write COLUMN OP VALUE with a column of {layer.id} "
                f"({', '.join(exprs)}) and an operator of = != < <= > >= ~"
            )
        name, op, raw = m.groups()
        kind = kinds[name]
        if kind in ("categories", "members"):
            raise InvalidInput(f"--where {item!r}: {name} is a list; filter on another column")
        if op == "=" and "," in raw and kind in ("text", "enum"):
            parts.append(sql.SQL("{} = ANY(%s)").format(exprs[name]))
            params.append([v.strip() for v in raw.split(",")])
            continue
        if op == "~":
            parts.append(sql.SQL("{}::text LIKE %s").format(exprs[name]))
            params.append(raw.replace("*", "%"))
            continue
        parts.append(sql.SQL("{} {} %s").format(exprs[name], sql.SQL(_OPS[op])))
        params.append(_value(kind, raw, item, timezone))
    if not parts:
        return sql.SQL(""), []
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params


def _value(kind: str, raw: str, item: str, timezone: str):
    series = pd.Series([raw], dtype=object)
    if kind == "time":
        parsed, bad = values.parse_time(series, timezone)
    elif kind in ("int", "float"):
        parsed, bad = values.parse_float(series)
    elif kind == "bool":
        parsed, bad = values.parse_bool(series)
    else:
        return raw
    if bad.iloc[0] or pd.isna(parsed.iloc[0]):
        raise InvalidInput(f"--where {item!r}: {raw!r} is not a {kind}")
    value = parsed.iloc[0]
    return (
        value.to_pydatetime()
        if isinstance(value, pd.Timestamp)
        else value.item()
        if hasattr(value, "item")
        else value
    )


def read_layer(
    conn: psycopg.Connection, layer_name: str | Layer, where: list[str], timezone: str
) -> tuple[pd.DataFrame, np.ndarray]:
    layer = importable(layer_name)
    check_against_database({layer.id: layer}, conn)  # a layer file ahead of its migration
    query, exprs = _select(layer, own_prefix(conn))
    cond, params = conditions(layer, exprs, where, timezone)
    rows = conn.execute(query + cond + sql.SQL(" ORDER BY t.id"), params).fetchall()
    names = [*exprs, "attributes", "geom"]
    frame = pd.DataFrame(rows, columns=names)
    geoms = np.array(shapely.from_wkb([bytes(g) for g in frame.pop("geom")]), dtype=object).reshape(
        -1
    )
    return frame, geoms


def export_layer(
    conn: psycopg.Connection,
    layer_name: str | Layer,
    target: Path,
    fmt: str | None = None,
    crs: str | None = None,
    where: list[str] | None = None,
    timezone: str = "Asia/Shanghai",
    points: bool = False,
    personal: bool = False,
) -> Exported:
    """Write the layer's rows (those ``where`` selects) to ``target``; returns the count.
    Personal data (reporters, the source's own columns) only when ``personal``."""
    fmt = format_of(target, fmt)
    out_crs = coords.parse(crs or "wgs84")
    layer = importable(layer_name)
    frame, geoms = read_layer(conn, layer, where or [], timezone)
    notes: list[str] = []
    held = [c for c in frame.columns if c in layer.personal]
    if not personal and held:
        frame = frame.drop(columns=held)
        notes.append(f"left out as personal data: {', '.join(held)} (--personal writes them)")
    if points and layer.geometry == "polygon":
        geoms = shapely.point_on_surface(geoms) if len(geoms) else geoms
    geoms = coords.from_wgs84(geoms, out_crs) if len(geoms) else geoms
    frame = _cells(frame, layer, timezone)
    frame = _with_attributes(frame)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "xlsx"):
        _write_table(frame, geoms, target, fmt, out_crs, notes)
    else:
        _write_vector(frame, geoms, target, fmt, out_crs, layer, notes)
    return Exported(len(frame), target, notes)


def _cells(frame: pd.DataFrame, layer: Layer, timezone: str) -> pd.DataFrame:
    """Values as text where formats differ in what they can hold: lists, times with their
    offset (local time, CITYBRAIN_TIMEZONE)."""
    frame = frame.copy()
    for column in layer.columns.values():
        if column.name not in frame:
            continue
        col = frame[column.name]
        if column.kind == "categories":
            frame[column.name] = col.map(lambda v: ",".join(v) if v is not None else None)
        elif column.kind == "members":  # 张三(网格员)、李四(辅警): short enough for a .dbf
            frame[column.name] = col.map(_members_text, na_action="ignore")
        elif column.kind == "time":
            stamps = pd.to_datetime(col, utc=True).dt.tz_convert(timezone)
            frame[column.name] = stamps.map(lambda t: t.isoformat() if pd.notna(t) else None)
    return frame


def _members_text(members: list[dict]) -> str:
    return "、".join(f"{m['name']}({ROLE_LABELS[MemberRole(m['role'])]})" for m in members)


def _with_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    if "attributes" not in frame:
        return frame
    attrs = frame.pop("attributes")
    if attrs.isna().all():
        return frame
    extra = pd.DataFrame([a if isinstance(a, dict) else {} for a in attrs], index=frame.index)
    extra.columns = [c if c not in frame.columns else f"attr_{c}" for c in extra.columns]
    return pd.concat([frame, extra], axis=1)


def _write_table(frame, geoms, target: Path, fmt: str, out_crs, notes: list[str]) -> None:
    frame = frame.copy()
    kinds = set(shapely.get_type_id(geoms).tolist()) if len(geoms) else {0}
    if kinds == {0}:
        xy = shapely.get_coordinates(geoms) if len(geoms) else np.empty((0, 2))
        x, y = ("easting", "northing") if out_crs.projected else ("lon", "lat")
        frame[x], frame[y] = xy[:, 0], xy[:, 1]
    else:
        frame["wkt"] = shapely.to_wkt(geoms, rounding_precision=-1)
    if fmt == "csv":
        # UTF-8 with a byte-order mark: Excel opens it with the Chinese intact.
        frame.to_csv(target, index=False, encoding="utf-8-sig", float_format="%.17g")
        return
    if "wkt" in frame and frame["wkt"].str.len().max() > XLSX_CELL_CHARS:
        raise InvalidInput(
            f"some polygons are longer than an XLSX cell holds ({XLSX_CELL_CHARS:,} characters "
            "of WKT): export them as gpkg, geojson, shp or parquet"
        )
    _write_xlsx(frame, target, notes)


def _write_xlsx(frame: pd.DataFrame, target: Path, notes: list[str]) -> None:
    """A workbook whose text is text: a value beginning with = stays a value (a work order's
    text must never become a formula), and characters XML cannot hold are dropped, said in a
    note."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if len(frame) >= XLSX_ROWS:
        raise InvalidInput(
            f"{len(frame):,} rows are more than a worksheet holds ({XLSX_ROWS - 1:,}): "
            "filter with --where or export as csv, gpkg or parquet"
        )
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(frame.columns))
    cleaned = 0
    for record in frame.itertuples(index=False, name=None):
        row = []
        for value in record:
            if value is None or (isinstance(value, float) and np.isnan(value)):
                row.append(None)
                continue
            if isinstance(value, str):
                text = ILLEGAL_CHARACTERS_RE.sub("", value)
                cleaned += text != value
                cell = WriteOnlyCell(sheet, value=text)
                cell.data_type = "s"  # never a formula
                row.append(cell)
            else:
                row.append(value.item() if isinstance(value, np.generic) else value)
        sheet.append(row)
    book.save(target)
    if cleaned:
        notes.append(f"{cleaned} values held control characters XLSX cannot store: dropped")


def _write_vector(frame, geoms, target: Path, fmt: str, out_crs, layer, notes) -> None:
    import geopandas as gpd

    crs = out_crs.crs if out_crs.crs is not None else None
    if out_crs.offset:
        notes.append(f"{out_crs.offset} has no EPSG code: the file declares no CRS")
    if fmt == "shp":
        frame = frame.rename(columns={c.name: c.shp_name for c in layer.columns.values()})
        long = [
            c
            for c in frame.columns
            if frame[c].dtype == object
            and frame[c]
            .map(lambda v: isinstance(v, str) and len(v.encode()) > DBF_TEXT_BYTES)
            .any()
        ]
        if long:
            notes.append(
                f"values of {', '.join(long)} longer than {DBF_TEXT_BYTES} bytes are cut by the "
                "Shapefile format: use gpkg to keep them whole"
            )
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms), crs=crs)
    if fmt == "parquet":
        gdf.to_parquet(target)
        return
    import pyogrio

    driver = FORMATS[fmt][0]
    options = {"encoding": "UTF-8"} if fmt == "shp" else {}
    if target.exists():
        target.unlink()
    with warnings.catch_warnings():  # no CRS for gcj02/bd09 is said in the notes
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        pyogrio.write_dataframe(gdf, target, driver=driver, layer=layer.id, **options)
