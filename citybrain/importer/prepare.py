"""From a source table to the rows a layer would hold: columns mapped and parsed, geometry
built and brought to WGS84, every row checked. Nothing here writes; every problem becomes a
report entry naming the row, the field, the reason and the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd
import shapely

from citybrain.errors import InvalidInput
from citybrain.importer import coords, values
from citybrain.importer.mapping import Mapping, resolve, targets
from citybrain.importer.report import Report
from citybrain.importer.sources import SourceTable
from citybrain.layers import Column, Layer
from citybrain.layers.columns import ROLES_BY_NAME

# A point at 0, 0 is an empty cell written as a number by the exporting system.
_NULL_ISLAND = 1e-9


@dataclass
class Prepared:
    """The rows of one import, aligned: ``frame`` holds the parsed citybrain columns (only
    those the source gives: ``given``) and ``row`` (the source row), ``geoms`` the WGS84
    geometries (None where a row has none yet)."""

    layer: Layer
    frame: pd.DataFrame
    geoms: np.ndarray
    given: set[str]
    source_columns: dict[str, str]
    attributes: pd.Series
    crs: coords.Crs | None = None
    bad: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def reject(self, report: Report, mask, field: str, reason, value=None) -> None:
        """Reject the rows of ``mask`` (a boolean array) with one entry each; ``reason`` and
        ``value`` are one for all or one per row (aligned with the frame)."""
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask.any():
            return
        rows = self.frame["row"].to_numpy()[mask]
        keys = self.keys()[mask]
        n = int(mask.sum())
        shown = [None] * n if value is None else list(_aligned(value, self.frame.index)[mask])
        why = (
            [reason] * n
            if isinstance(reason, str)
            else list(_aligned(reason, self.frame.index)[mask])
        )
        for row, key, v, r in zip(rows, keys, shown, why, strict=True):
            report.reject(int(row), self.source_columns.get(field, field), r, v, key)
        self.bad |= mask

    def __len__(self) -> int:
        return len(self.frame)

    def keys(self) -> np.ndarray:
        key = self.layer.key
        if key in self.frame:
            return self.frame[key].astype(object).where(self.frame[key].notna(), "").to_numpy()
        return np.full(len(self.frame), "", dtype=object)

    def good(self) -> Prepared:
        """The rows not rejected."""
        return self.subset(~self.bad)

    def subset(self, keep: np.ndarray) -> Prepared:
        return Prepared(
            self.layer,
            self.frame[keep].reset_index(drop=True),
            self.geoms[keep],
            self.given,
            self.source_columns,
            self.attributes[keep].reset_index(drop=True),
            self.crs,
            self.bad[keep].copy(),
        )


def _aligned(values, index) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(values, index=index)


def parse_columns(
    layer: Layer, table: SourceTable, mapping: Mapping, report: Report, timezone: str
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame]:
    """The mapped columns parsed by type; bad cells reported (and the row marked)."""
    chosen = resolve(layer, list(table.frame.columns), mapping)
    report.mapping = dict(chosen)
    out = pd.DataFrame({"row": table.rows})
    bad = pd.DataFrame(index=out.index)
    for column in targets(layer):
        source = chosen.get(column.name)
        if source is None:
            if column.name in mapping.defaults:
                raw = pd.Series(mapping.defaults[column.name], index=out.index, dtype=object)
            else:
                continue
        else:
            raw = table.frame[source].reset_index(drop=True)
        parsed, wrong = _parse(column, raw, mapping.values.get(column.name, {}), timezone)
        out[column.name] = parsed
        bad[column.name] = wrong
        for index in np.flatnonzero(wrong.to_numpy()):
            report.reject(
                int(table.rows[index]),
                source or column.name,
                _why(column),
                raw.iloc[index],
            )
    _reject_nul(table, chosen, report, bad)
    return out, chosen, bad


def _reject_nul(
    table: SourceTable, chosen: dict[str, str], report: Report, bad: pd.DataFrame
) -> None:
    """A NUL in any cell, the columns no citybrain column takes too (they are kept as JSON),
    rejects its row; a cell already reported as unreadable is not reported twice."""
    for source in table.frame.columns:
        raw = table.frame[source].reset_index(drop=True)
        fed = [t for t, s in chosen.items() if s == source and t in bad]
        nul = values.holds_nul(raw).to_numpy() & ~bad[fed].any(axis=1).to_numpy(dtype=bool)
        for index in np.flatnonzero(nul):
            shown = values.as_text(raw.iloc[[index]]).iloc[0].replace("\x00", "\\x00")
            report.reject(
                int(table.rows[index]),
                source,
                "holds a NUL character (\\x00), which text cannot: is the file damaged?",
                shown,
            )
        bad[f"{source} (NUL)"] = nul


def _parse(column: Column, raw: pd.Series, extra: dict[str, str], timezone: str):
    table = {**column.values, **extra}
    match column.kind:
        case "text":
            return values.mapped(raw, extra), pd.Series(False, index=raw.index)
        case "int":
            return values.parse_int(values.mapped(raw, extra) if extra else raw)
        case "float":
            return values.parse_float(raw, table or None)
        case "bool":
            return values.parse_bool(raw, table)
        case "time":
            return values.parse_time(raw, timezone)
        case "enum":
            return values.parse_enum(raw, column.choices, table)
        case "categories":  # (the column's values hold the names offices use)
            return values.parse_categories(raw, table)
        case "members":
            return values.parse_members(raw, {**ROLES_BY_NAME, **extra})
    raise AssertionError(column.kind)


def _why(column: Column) -> str:
    return {
        "int": "not a whole number",
        "float": "not a number",
        "bool": "not yes/no (在线/离线, 是/否, true/false)",
        "time": "not a date and time",
        "enum": f"unknown value: use one of {', '.join(column.choices)} or map it in the "
        "mapping file's values",
        "categories": "unknown category in the list",
        "members": 'not members: write 张三(网格员)、李四(辅警) or [{"name", "role"}]',
    }.get(column.kind, "unreadable")


def attributes(table: SourceTable, used: set[str]) -> pd.Series:
    """Each row's source columns that no citybrain column takes, as a JSON object (text), or
    None when it has none."""
    rest = [c for c in table.frame.columns if c not in used]
    if not rest:
        return pd.Series([None] * len(table), dtype=object)
    texts = {c: values.as_text(table.frame[c]).reset_index(drop=True) for c in rest}
    frame = pd.DataFrame(texts)
    records = frame.to_dict("records")
    out = [
        orjson.dumps({k: v for k, v in r.items() if v is not None and v is not pd.NA}).decode()
        for r in records
    ]
    return pd.Series([None if o == "{}" else o for o in out], dtype=object)


def location(
    prep: Prepared,
    table: SourceTable,
    report: Report,
    declared_crs: str | None,
) -> None:
    """Build each row's geometry (WGS84) from the source's geometry, lon/lat, easting/northing
    or WKT; rows without any are left None (an address may place them later)."""
    frame = prep.frame
    n = len(frame)
    geoms = np.full(n, None, dtype=object)
    if {"lon", "lat"} <= prep.given or {"easting", "northing"} <= prep.given:
        x, y = (frame[c].to_numpy(dtype=float, na_value=np.nan) for c in _xy_columns(prep))
        _points(prep, report, declared_crs, table, x, y)
        return
    if table.geometry is not None and "wkt" not in prep.given and all_points(table.geometry):
        # A GIS file of points: as arrays too (an empty point is no location: NaN).
        geoms = np.asarray(table.geometry, dtype=object)
        there = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
        x, y = np.full(len(geoms), np.nan), np.full(len(geoms), np.nan)
        x[there], y[there] = shapely.get_x(geoms[there]), shapely.get_y(geoms[there])
        _points(prep, report, declared_crs, table, x, y)
        return
    if "wkt" in prep.given:
        text = frame["wkt"]
        parsed = shapely.from_wkt(text.fillna("").to_numpy(dtype=object), on_invalid="ignore")
        wrong = text.notna().to_numpy() & (shapely.is_missing(parsed) | shapely.is_empty(parsed))
        prep.reject(report, wrong, "wkt", "not a WKT geometry", text)
        geoms = np.where(shapely.is_missing(parsed) | wrong, None, parsed)
    elif table.geometry is not None:
        geoms = np.where(shapely.is_missing(table.geometry), None, table.geometry)
    elif "address" not in prep.given:
        raise InvalidInput(
            "the source has no location: map lon/lat (--map lon=经度 --map lat=纬度), "
            "easting/northing, wkt"
            + (" or address" if prep.layer.import_ and prep.layer.import_.address else "")
            + f"; its columns are {', '.join(table.frame.columns)}"
        )
    present = np.array([g is not None for g in geoms], dtype=bool)
    sample = np.empty((0, 2))
    if present.any():
        sample = shapely.get_coordinates(
            shapely.point_on_surface(shapely.make_valid(geoms[present][:2000]))
        )
    prep.crs = _crs(declared_crs, table, sample, report)
    if present.any():
        geoms[present] = coords.to_wgs84(geoms[present].astype(object), prep.crs)
        _refuse_if_elsewhere(geoms[present], sample, prep.crs)
    prep.geoms = geoms


def _crs(declared: str | None, table: SourceTable, sample: np.ndarray, report: Report):
    if len(sample):
        crs = coords.resolve(declared, table.crs, sample[:, 0], sample[:, 1])
    else:
        crs = coords.checked(coords.parse(declared or "wgs84"))
    report.crs = crs.label
    return crs


def _xy_columns(prep: Prepared) -> tuple[str, str]:
    return ("lon", "lat") if "lon" in prep.given else ("easting", "northing")


def all_points(geoms: np.ndarray) -> bool:
    """Every geometry given is a point (missing ones aside), and there is one."""
    kinds = shapely.get_type_id(np.asarray(geoms, dtype=object))
    present = kinds >= 0
    return bool(present.any()) and bool((kinds[present] == 0).all())


def _points(prep: Prepared, report: Report, declared: str | None, table: SourceTable, x, y) -> None:
    """Points from coordinates: converted as arrays, made geometries once."""
    empty = (
        ~np.isfinite(x)
        | ~np.isfinite(y)
        | ((np.abs(x) < _NULL_ISLAND) & (np.abs(y) < _NULL_ISLAND))
    )
    sample = np.column_stack([x[~empty][:2000], y[~empty][:2000]])
    prep.crs = _crs(declared, table, sample, report)
    lon, lat = coords.points_to_wgs84(x[~empty], y[~empty], prep.crs)
    geoms = np.full(len(x), None, dtype=object)
    geoms[~empty] = shapely.points(lon, lat)
    prep.geoms = geoms
    if len(lon):
        _refuse_if_elsewhere(geoms[~empty][:2000], sample, prep.crs)


def _refuse_if_elsewhere(geoms: np.ndarray, raw: np.ndarray, crs: coords.Crs) -> None:
    """Most rows outside the county is a wrong CRS, not bad rows: say which it looks like."""
    with np.errstate(invalid="ignore"):  # a wrong CRS can make coordinates of nothing
        pts = shapely.get_coordinates(shapely.point_on_surface(shapely.make_valid(geoms[:2000])))
    if coords.outside_region(pts[:, 0], pts[:, 1]).mean() <= 0.5:
        return
    raise InvalidInput(
        f"read as {crs.label}, most rows fall outside the county: the coordinate system is "
        f"probably another; {coords.guess_hint(raw[:, 0], raw[:, 1])}"
    )
