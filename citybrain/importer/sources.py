"""Reading a source file as county offices hand it over: Shapefiles (their parts or zipped),
GeoPackages and GeoJSON through GDAL, CSV and XLSX lists and GeoParquet through our own readers.
Which of these a file is, its bytes say (``formats``: never GDAL's guess, which would follow a
VRT to any file or URL); zips and workbooks unpack within a budget of real bytes.

Text encodings are found, never guessed into mojibake: a Shapefile whose ``.dbf`` declares
nothing (no ``.cpg``, no code page byte) is read byte for byte and decoded as UTF-8 if that is
valid, else as GBK (GB 18030, its superset) if that is; CSV files the same way. ``--encoding``
overrides. What cannot be decoded either way is refused with the column named.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pyproj import CRS

from citybrain.errors import InvalidInput
from citybrain.importer import formats
from citybrain.importer.values import as_text

# GDAL's default for a .dbf that declares no encoding (then every byte is one character).
UNDECLARED = "ISO-8859-1"


@dataclass
class SourceTable:
    """A source's rows: attribute columns, geometries (in the source's CRS) if it has any,
    and the row number each had in the file as its user sees it."""

    name: str
    sha256: str
    format: str
    frame: pd.DataFrame
    rows: np.ndarray
    geometry: np.ndarray | None = None
    crs: CRS | None = None
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)


def file_hash(path: Path) -> str:
    """SHA-256 of the file, or for a Shapefile of its parts together (.shp, .dbf, .prj, ...)."""
    digest = hashlib.sha256()
    parts = [path]
    if path.suffix.lower() == ".shp":
        parts = sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file())
    for part in parts:
        with part.open("rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def decode_bytes(raw: bytes, encoding: str | None, what: str) -> tuple[str, str]:
    """``raw`` as text, and the encoding that read it: the one given, else UTF-8, else GBK."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise InvalidInput(f"{what} cannot be read as {encoding}: {exc}") from exc
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    _refuse_mixed(raw, what)
    try:
        return raw.decode("gb18030"), "GBK"
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{what} is neither UTF-8 nor GBK text: pass --encoding (e.g. --encoding big5)"
        ) from None


def _refuse_mixed(raw: bytes, what: str) -> None:
    """A file that is not UTF-8 as a whole but has lines of Chinese that are (a UTF-8 list an
    office pasted a GBK row into): GB 18030 would read it without an error, every UTF-8 line
    as mojibake. Refused, naming a line of each."""
    utf8 = gbk = None
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 = utf8 or number
        except UnicodeDecodeError:
            gbk = gbk or number
        if utf8 and gbk:
            raise InvalidInput(
                f"{what} mixes encodings: line {utf8} is UTF-8 and line {gbk} is not (GBK?); "
                "save the whole file in one encoding"
            )


def read_source(
    path: Path,
    encoding: str | None = None,
    sheet: str | None = None,
    name: str | None = None,
    max_unpacked_mb: int | None = None,
) -> SourceTable:
    """Read ``path``, of a format its bytes must agree with its suffix on
    (``formats.ALLOWED``); a zip or workbook may unpack to ``formats.unpack_budget``."""
    if not path.exists():
        raise InvalidInput(f"no such file: {path}")
    if not path.is_file():
        raise formats.refuse(str(path), "not a file")
    label = name or path.name
    budget = formats.unpack_budget(max_unpacked_mb)
    kind = formats.identify(path, label)
    digest = file_hash(path)
    if kind == "zip":
        with tempfile.TemporaryDirectory(prefix="citybrain-unzip-") as folder:
            inner = formats.unpack(path, Path(folder), label, budget)
            inner_kind = formats.identify(inner, f"{label}: {inner.name}")
            table = _read(inner, inner_kind, encoding, sheet, label, budget)
    else:
        table = _read(path, kind, encoding, sheet, label, budget)
    table.sha256 = digest
    if len(table) == 0:
        raise InvalidInput(f"{label} holds no rows")
    _check_headers(table.frame, label)
    return table


def _read(
    path: Path, kind: str, encoding: str | None, sheet: str | None, label: str, budget: int
) -> SourceTable:
    if kind in formats.REGISTERED:  # (a format registered by a module of the deployment's)
        return formats.REGISTERED[kind].read(path, label)
    if kind == "csv":
        return _read_csv(path, encoding, label)
    if kind == "xlsx":
        formats.check_workbook(path, label, budget)
        return _read_sheet(path, sheet, label)
    if kind == "parquet":
        return _read_parquet(path, label)
    if kind == "shp":
        formats.check_parts(path, label)
    return _read_vector(path, kind, encoding, label)


def _check_headers(frame: pd.DataFrame, label: str) -> None:
    """Every column named, each name once (after trimming): which column a name means must
    never be a guess."""
    names = [str(c).strip() for c in frame.columns]
    blank = [i + 1 for i, n in enumerate(names) if not n or n.lower().startswith("unnamed:")]
    if blank:
        raise InvalidInput(f"{label}: column {', '.join(map(str, blank))} has no header")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"{label}: the header repeats {', '.join(dupes)}")
    frame.columns = names


def _read_csv(path: Path, encoding: str | None, label: str) -> SourceTable:
    text, used = decode_bytes(path.read_bytes(), encoding, label)
    data = text.encode("utf-8")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        header = pacsv.read_csv(
            io.BytesIO(data.split(b"\n", 1)[0] + b"\n"),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
        ).column_names
        _check_headers(pd.DataFrame(columns=header), label)
        table = pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{label} is not a readable CSV file: {exc}") from exc
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    # Row numbers as a spreadsheet shows them: the header is row 1.
    rows = np.arange(2, len(frame) + 2)
    return SourceTable(label, "", "csv", frame, rows, encoding=used)


def _read_sheet(path: Path, sheet: str | None, label: str) -> SourceTable:
    try:  # header=None: the first row as it is (pandas would rename a repeated header)
        # keep_default_na=False: a cell holding "NA", "null" or "None" is that text (as in a
        # CSV), not an empty cell; empty cells stay empty.
        book = pd.read_excel(
            path,
            sheet_name=None,
            engine="calamine",
            dtype=object,
            header=None,
            keep_default_na=False,
            na_values=[""],
        )
    except MemoryError:
        raise
    except Exception as exc:  # calamine raises its own types for broken files
        raise InvalidInput(f"{label} is not a readable spreadsheet: {exc}") from exc
    if sheet is None:
        names = [n for n, f in book.items() if not f.empty] or list(book)
        sheet = names[0]
    elif sheet not in book:
        raise InvalidInput(f"{label} has no sheet {sheet!r}: it has {', '.join(book)}")
    grid = book[sheet]
    if grid.empty:
        raise InvalidInput(f"{label}: sheet {sheet!r} is empty")
    frame = grid.iloc[1:].reset_index(drop=True)
    frame.columns = [
        "" if pd.isna(h) else str(as_text(pd.Series([h], dtype=object)).iloc[0])
        for h in grid.iloc[0]
    ]
    _check_headers(frame, label)
    rows = np.arange(2, len(frame) + 2)
    return SourceTable(label, "", "xlsx", frame, rows)


def _read_parquet(path: Path, label: str) -> SourceTable:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{label} is not a readable Parquet file: {exc}") from exc
    if b"geo" in meta:
        import geopandas as gpd

        gdf = gpd.read_parquet(path)
        geometry = np.asarray(gdf.geometry.array, dtype=object)
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
        return SourceTable(label, "", "parquet", frame, np.arange(1, len(frame) + 1), geometry, crs)
    frame = pd.read_parquet(path)
    return SourceTable(label, "", "parquet", frame, np.arange(1, len(frame) + 1))


def _read_vector(path: Path, kind: str, encoding: str | None, label: str) -> SourceTable:
    pyogrio = formats.gdal()
    try:
        info = pyogrio.read_info(path, encoding=encoding)
    except MemoryError:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InvalidInput(f"{label} is not a file GDAL can read: {exc}") from exc
    if info.get("driver") != formats.DRIVERS[kind]:  # (the only drivers loaded: never seen)
        raise formats.refuse(label, f"GDAL reads it as {info.get('driver')}")
    raw = encoding is None and info.get("encoding") == UNDECLARED
    # Times stay text: GDAL would parse them itself, to the millisecond only.
    opts: dict = {"DATE_AS_STRING": "YES"} if info.get("driver") == "GeoJSON" else {}
    opts["use_arrow"] = True  # columns as Arrow: 5x faster for a million rows
    try:
        gdf = pyogrio.read_dataframe(path, encoding=UNDECLARED if raw else encoding, **opts)
    except UnicodeDecodeError:  # a .cpg that lies: read the bytes and look
        raw = True
        gdf = pyogrio.read_dataframe(path, encoding=UNDECLARED, **opts)
    except MemoryError:
        raise
    except Exception as exc:
        raise InvalidInput(f"{label} cannot be read: {exc}") from exc
    used = info.get("encoding")
    notes: list[str] = []
    if raw:
        gdf, used = _decode_undeclared(gdf, label)
        if used != "ASCII":
            notes.append(f"the attribute table declares no encoding: read as {used}")
    geometry = None
    if _has_geometry(gdf):
        geometry = np.asarray(gdf.geometry.array, dtype=object)
        gdf = gdf.drop(columns=gdf.geometry.name)
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    frame = pd.DataFrame(gdf)
    frame.columns = [str(c).strip() for c in frame.columns]
    rows = np.arange(1, len(frame) + 1)
    return SourceTable(
        label, "", info.get("driver", "GDAL"), frame, rows, geometry, crs, used, notes
    )


def _has_geometry(frame) -> bool:
    """A GIS table without geometry (a lone .dbf, a GeoPackage attribute table) is read as
    a plain table."""
    import geopandas as gpd

    return isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame


def _decode_undeclared(gdf, label: str):
    """Names and text cells read byte for byte (as Latin-1) decoded as what they are. Field
    names are cut at 10 bytes, which can split a character: a cut one is dropped."""
    geom = gdf.geometry.name if _has_geometry(gdf) else None
    texts = [
        c
        for c in gdf.columns
        if c != geom and (gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c].dtype))
    ]
    cells = [
        str(v).encode("latin-1", "replace")
        for c in texts
        for v in gdf[c].dropna().unique()
        if isinstance(v, str)
    ]
    names = [_whole(str(c).encode("latin-1", "replace")) for c in gdf.columns]
    raw = b"\n".join(cells + [n for n in names if n is not None])
    if raw.isascii():
        return gdf, "ASCII"
    _, used = decode_bytes(raw, None, f"{label}'s attribute table")
    codec = "utf-8" if used == "UTF-8" else "gb18030"

    def fix(value):
        return value.encode("latin-1").decode(codec) if isinstance(value, str) else value

    def fix_name(name):
        data = str(name).encode("latin-1", "replace")
        try:
            return data.decode(codec)
        except UnicodeDecodeError as exc:  # a character cut by the 10-byte limit
            return data[: exc.start].decode(codec, "replace")

    gdf = gdf.copy()
    for c in texts:
        gdf[c] = gdf[c].astype(object).map(fix, na_action="ignore")
    gdf.columns = [fix_name(c) if c != geom else c for c in gdf.columns]
    return gdf, used


def _whole(name: bytes) -> bytes | None:
    """A field name without a multi-byte character cut at its end (None if all ASCII)."""
    if name.isascii():
        return None
    for codec in ("utf-8", "gb18030"):  # UTF-8 first: GB 18030 would read it as gibberish
        for cut in range(0, 4):
            head = name[: len(name) - cut] if cut else name
            try:
                head.decode(codec)
                return head
            except UnicodeDecodeError:
                continue
    return name
