"""Cell values as county offices write them, parsed column by column.

Every parser takes a pandas Series of whatever the reader produced (text from CSV, numbers,
text and datetimes mixed in one XLSX column, typed columns from GDAL) and returns the parsed
Series with a mask of the cells it could not read; an empty cell is missing (``NA``), never bad.
Whole columns are parsed at once, so a million rows take seconds.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from citybrain.domain import CATEGORIES_BY_NAME

Parsed = tuple[pd.Series, pd.Series]  # values, bad (True where a present cell is unreadable)

_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# Excel serial dates from 1954 to 2119: numbers outside are not dates.
_EXCEL_RANGE = (20_000, 80_000)
# Instants a county's records can hold: outside is a typo or a number taken for a date (and
# Python's datetime, which carries a time to the database, has no year before 1).
TIME_RANGE = (pd.Timestamp("1900-01-01", tz="UTC"), pd.Timestamp("2200-01-01", tz="UTC"))
# A time written as text names its year in full: without one (12:00, now, 1,5) pandas would
# fill in today or the year 1.
_FULL_YEAR = r"[0-9]{4}"


def _blank(series: pd.Series) -> pd.Series:
    """Missing cells: NA, or text that is empty after trimming."""
    missing = series.isna()
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype | pd.ArrowDtype):
        missing |= as_text(series).isna()
    return missing.astype(bool)


def _arrow_text(series: pd.Series) -> pa.Array | None:
    """The cells as an Arrow string array when they already are one (CSV, GDAL's text)."""
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_string(dtype.pyarrow_dtype):
        return pa.array(series)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pa.array(series.array).cast(pa.string())
    return None


def as_text(series: pd.Series) -> pd.Series:
    """Cells as trimmed text (``NA`` when empty). Whole numbers read as numbers by Excel or
    GDAL keep no ``.0`` (a code 330421001 stays 330421001)."""
    if pd.api.types.is_float_dtype(series.dtype):
        # Whole numbers a float holds exactly: beyond 2**53 it is no code, and int64 overflows.
        exact = series.notna() & (series.abs() < 2**53)
        whole = exact & (series == np.round(series))
        out = series.astype(object)
        out[whole] = series[whole].astype(np.int64).astype(str)
        out[series.notna() & ~whole] = series[series.notna() & ~whole].map(repr)
        series = out
    elif pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("string")
    elif (arrow := _arrow_text(series)) is not None:  # CSV: trimmed in Arrow, in C
        trimmed = pc.utf8_trim_whitespace(arrow)
        trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        return pd.Series(trimmed, index=series.index, dtype=pd.ArrowDtype(pa.string()))
    elif series.dtype == object:
        series = series.map(_cell_text, na_action="ignore")
    text = series.astype("string").str.strip()
    return text.mask(text.eq(""))


def holds_nul(series: pd.Series) -> pd.Series:
    """Cells holding a NUL character, which no text (nor JSON) in the database can: a damaged
    file, or binary pasted into a cell."""
    if not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
        return pd.Series(False, index=series.index)
    nul = as_text(series).str.contains("\x00", regex=False)
    return nul.fillna(False).astype(bool)


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):  # GDAL reads JSON fields as objects
        return orjson.dumps(value).decode()
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    return str(value)


def mapped(series: pd.Series, values: dict[str, str]) -> pd.Series:
    """Text cells with ``values`` applied (keys compared without case and blanks): each
    distinct value is looked up once."""
    text = as_text(series)
    if not values:
        return text
    table = {k.strip().lower(): v for k, v in values.items()}
    return _per_value(text, lambda u: table.get(str(u).strip().lower(), u))


def _per_value(text: pd.Series, fn) -> pd.Series:
    """``fn`` applied once per distinct value (columns of a million cells hold a few)."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    if not len(uniques):
        return pd.Series(pd.NA, index=text.index, dtype="string")
    looked = np.array([fn(u) for u in uniques], dtype=object)
    out = np.where(codes >= 0, looked[np.maximum(codes, 0)], None)
    return pd.Series(out, index=text.index, dtype="string")


def parse_enum(series: pd.Series, choices: tuple[str, ...], values: dict[str, str]) -> Parsed:
    text = as_text(series)
    table = {k.strip().lower(): v for k, v in values.items()}
    lower = {c.lower(): c for c in choices}

    def stored(value) -> str:
        v = table.get(str(value).strip().lower(), value)
        return lower.get(str(v).lower(), v)

    out = _per_value(text, stored)
    bad = (out.notna() & ~out.isin(choices)).astype(bool)
    return out.mask(bad), bad


def parse_float(series: pd.Series, values: dict[str, str] | None = None) -> Parsed:
    """Numbers, numeric text, and degrees-minutes-seconds text (``120°55'12.3"``)."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not values:
        out = series.astype(float)
        return _finite(out, series.notna())
    text = mapped(series, values or {})
    arrow = _arrow_text(text)
    try:  # the common case: every cell a plain number (in C, via Arrow)
        numbers = pc.cast(arrow, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, TypeError, AttributeError):
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        rest = text.notna().to_numpy(dtype=bool) & np.isnan(numbers)
        if rest.any():
            # (Arrow-backed columns convert to read-only arrays: never written in place.)
            numbers = numbers.copy()
            numbers[rest] = text[rest].astype(object).map(_dms).to_numpy(dtype=float)
    return _finite(pd.Series(numbers, index=text.index, dtype=float), text.notna())


def _finite(values: pd.Series, present: pd.Series) -> Parsed:
    """Infinity and NaN written as numbers are not values: the cell is bad."""
    finite = np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    bad = present.to_numpy(dtype=bool) & ~finite
    return values.where(finite), pd.Series(bad, index=values.index)


_DMS = re.compile(
    r"^\s*([NSEW东西南北]?)\s*(-?\d+(?:\.\d+)?)\s*[°度]\s*"
    r"(?:(\d+(?:\.\d+)?)\s*['′分]\s*)?(?:(\d+(?:\.\d+)?)\s*(?:\"|″|''|秒)\s*)?([NSEW东西南北]?)\s*$"
)


def _dms(text: str) -> float:
    m = _DMS.match(str(text))
    if not m:
        return np.nan
    pre, deg, minutes, seconds, post = m.groups()
    value = abs(float(deg)) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
    hemisphere = (pre or post or "").upper()
    negative = deg.startswith("-") or hemisphere in ("S", "W", "南", "西")
    return -value if negative else value


INT_RANGE = (-(2**31), 2**31 - 1)  # the database's integer


def parse_int(series: pd.Series) -> Parsed:
    values, bad = parse_float(series)
    whole = values.notna() & (values == np.round(values)) & values.between(*INT_RANGE)
    bad = bad | (values.notna() & ~whole)
    out = values.where(whole).astype("Int64")
    return out, bad.astype(bool)


_TRUE = {"true", "t", "yes", "y", "1", "是", "在线", "正常"}
_FALSE = {"false", "f", "no", "n", "0", "否", "离线", "故障"}


def parse_bool(series: pd.Series, values: dict[str, str] | None = None) -> Parsed:
    text = mapped(series, values or {}).str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False).astype(bool)] = True
    out[text.isin(_FALSE).fillna(False).astype(bool)] = False
    bad = text.notna() & out.isna()
    return out, bad.astype(bool)


_ZONED = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_CHINESE_DATE = [("年", "-"), ("月", "-"), ("日", " "), ("时", ":"), ("点", ":"), ("分", ":")]


def parse_time(series: pd.Series, timezone: str) -> Parsed:
    """Instants as UTC. Text in ISO 8601 or the usual local spellings (``2026/11/20 8:15``,
    ``2026年11月20日 8时15分``), datetimes from XLSX, Excel serial day numbers; a time without
    a zone is in ``timezone`` (the one rule: CITYBRAIN_TIMEZONE). Text without its year in full
    and instants outside ``TIME_RANGE`` are bad cells."""
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    present = ~_blank(series)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = series if series.dt.tz is not None else series.dt.tz_localize(timezone)
        return _in_range(stamps.dt.tz_convert("UTC").astype(out.dtype), present)
    is_stamp = (
        series.map(lambda v: isinstance(v, datetime | pd.Timestamp)).astype(bool)
        if series.dtype == object
        else pd.Series(False, index=series.index)
    )
    if is_stamp.any():  # XLSX: datetimes, numbers and text mixed
        for when, value in series[is_stamp].items():
            ts = pd.Timestamp(value)
            ts = ts.tz_localize(timezone) if ts.tzinfo is None else ts
            out[when] = ts.tz_convert("UTC")
    if _arrow_text(series) is not None:  # CSV text: numbers are rare, look only if one is
        looks = pc.match_substring_regex(pa.array(series), r"^\s*\d+(\.\d+)?\s*$")
        maybe = pd.Series(looks.to_numpy(zero_copy_only=False), index=series.index)
        numeric = pd.Series(np.nan, index=series.index)
        if maybe.fillna(False).any():
            idx = maybe.fillna(False).astype(bool)
            numeric[idx] = pd.to_numeric(series[idx].astype(object), errors="coerce")
    else:
        rest = series.where(present & ~is_stamp)
        numeric = pd.to_numeric(rest.astype(object), errors="coerce").astype("float64")
    serial = numeric.between(*_EXCEL_RANGE) & out.isna()
    if serial.any():
        local = _EXCEL_EPOCH + pd.to_timedelta(numeric[serial], unit="D")
        out[serial] = local.dt.round("s").dt.tz_localize(timezone).dt.tz_convert("UTC")
    todo = present & out.isna() & numeric.isna()
    if todo.any():
        text = as_text(series[todo])
        text = text[text.str.contains(_FULL_YEAR).fillna(False).astype(bool)]
        # The common spelling first, in C: 2026-11-20 08:15:00 (local time).
        plain = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
        hit = plain.notna()
        if hit.any():
            local = plain[hit].dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            out[local.index] = local.dt.tz_convert("UTC").astype(out.dtype)
            text = text[~hit]
    if todo.any() and len(text):
        for old, new in _CHINESE_DATE:
            text = text.str.replace(old, new, regex=False)
        text = text.str.replace("/", "-", regex=False).str.replace("秒", "", regex=False)
        text = text.str.strip().str.rstrip(":")
        zoned = text.str.contains(_ZONED).fillna(False).astype(bool)
        for mask, aware in ((zoned, True), (~zoned, False)):
            part = text[mask]
            if part.empty:
                continue
            parsed = pd.to_datetime(part, format="ISO8601", errors="coerce", utc=aware)
            left = parsed.isna()
            if left.any():  # unpadded hours and the like: one by one, only these
                parsed[left] = pd.to_datetime(
                    part[left], format="mixed", errors="coerce", utc=aware
                )
            if not aware:
                parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            out[part.index] = parsed.dt.tz_convert("UTC").astype(out.dtype)
    return _in_range(out, present)


def _in_range(stamps: pd.Series, present: pd.Series) -> Parsed:
    stamps = stamps.where(stamps.between(*TIME_RANGE, inclusive="left"))
    return stamps, (present & stamps.isna()).astype(bool)


_SPLIT = re.compile(r"[,，、;；|/\s]+")


def parse_categories(series: pd.Series, values: dict[str, str]) -> Parsed:
    """Lists of incident categories (a team's skills): ``治安、交通``; each through ``values``."""
    table = {k.strip().lower(): v for k, v in values.items()}
    text = as_text(series)
    out = pd.Series(None, index=series.index, dtype=object)
    bad = pd.Series(False, index=series.index)
    for index, cell in text.dropna().items():
        names = [table.get(p.lower(), p) for p in _SPLIT.split(str(cell)) if p]
        if all(n in CATEGORIES_BY_NAME for n in names):
            out[index] = sorted(set(names))
        else:
            bad[index] = True
    return out, bad


_MEMBER = re.compile(r"^\s*([^()（）:：]+?)\s*[(（:：]\s*([^()（）]+?)\s*[)）]?\s*$")


def parse_members(series: pd.Series, roles: dict[str, str]) -> Parsed:
    """Team members: JSON ``[{"name", "role"}]`` or ``张三(网格员)、李四(辅警)``."""
    text = as_text(series)
    out = pd.Series(None, index=series.index, dtype=object)
    bad = pd.Series(False, index=series.index)
    for index, cell in text.dropna().items():
        members = _members(str(cell), roles)
        if members is None:
            bad[index] = True
        else:
            out[index] = members
    return out, bad


def _members(cell: str, roles: dict[str, str]) -> list[dict[str, str]] | None:
    if cell.startswith("["):
        try:
            items = orjson.loads(cell)
        except orjson.JSONDecodeError:
            return None
        pairs = [(i.get("name"), i.get("role")) for i in items if isinstance(i, dict)]
        if len(pairs) != len(items):
            return None
    else:
        pairs = []
        for part in re.split(r"[,，、;；]+", cell):
            m = _MEMBER.match(part)
            if not m:
                return None
            pairs.append((m.group(1), m.group(2)))
    out = []
    for name, role in pairs:
        stored = roles.get(str(role).strip())
        if not name or stored is None:
            return None
        out.append({"name": str(name).strip(), "role": str(stored)})
    return out
