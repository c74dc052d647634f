"""What an import source is, decided from its bytes, and what GDAL may do with it.

A file's suffix only says what its sender claims: the bytes decide (a zip's members, the SQLite
header of a GeoPackage, Parquet's ``PAR1``, a Shapefile's header, JSON that is a GeoJSON
Feature or FeatureCollection, text otherwise), and a suffix that disagrees with them is
refused. GDAL's formats can point at other files and URLs (a VRT names any path, a WFS file a
server, a GeoJSON CRS a link), so GDAL sees only Shapefiles, GeoPackages and GeoJSON that
passed these checks, under a plain local path, in a process where every other GDAL driver is
unloaded and GDAL's network access is off (:func:`gdal`). Zips and XLSX workbooks are unpacked
with a budget of real bytes, counted as they come out (never the sizes their headers declare).

A new format is registered, not added to a chain (``register``): its suffixes, how its first
bytes are told, and its reader, which must open nothing but the file it is given
(docs/architecture.md, "Recipe: a new import format").
"""

from __future__ import annotations

import glob
import json
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citybrain.errors import InvalidInput, TooLarge

ALLOWED = (
    "CSV (.csv, .txt, .tsv), XLSX (.xlsx, .xlsm), GeoPackage (.gpkg), GeoJSON (.geojson, "
    ".json), GeoParquet (.parquet), a Shapefile's parts (.shp with its .dbf, .shx, .prj) "
    "or a zipped Shapefile (.zip)"
)
# The format each suffix claims; the bytes must agree.
SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".shp": "shp",
    ".dbf": "dbf",  # a Shapefile's attribute table alone
    ".zip": "zip",
}
# A Shapefile's parts besides its .shp (.xml: ArcGIS metadata, never read).
SHAPEFILE_PARTS = {".shp", ".dbf", ".shx", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml"}
# The formats GDAL reads for citybrain, and the only GDAL drivers loaded once it has.
DRIVERS = {"shp": "ESRI Shapefile", "dbf": "ESRI Shapefile", "gpkg": "GPKG", "geojson": "GeoJSON"}
UNPACK_GROWTH = 4  # a zip or XLSX may unpack to at most this many times CITYBRAIN_IMPORT_MAX_MB

WHAT = {
    "csv": "CSV (text)",
    "xlsx": "an XLSX spreadsheet",
    "parquet": "a Parquet file",
    "gpkg": "a GeoPackage",
    "geojson": "GeoJSON",
    "shp": "a Shapefile's .shp",
    "dbf": "a dBase table (.dbf)",
    "zip": "a zip archive",
    "sqlite": "an SQLite database that is not a GeoPackage",
    "ole": "an Excel 97-2003 workbook or another OLE file (save it as XLSX)",
    "xml": "XML (GDAL's VRT and WFS files are XML: citybrain reads neither)",
    "json": "JSON",
}
SQLITE = b"SQLite format 3\x00"
GPKG_IDS = {b"GPKG", b"GP10", b"GP11"}  # the application_id at byte 68 of a GeoPackage
OLE = bytes.fromhex("d0cf11e0a1b11ae1")
SHP_TYPES = {0, 1, 3, 5, 8, 11, 13, 15, 18, 21, 23, 25, 28, 31}
DBF_VERSIONS = {0x02, 0x03, 0x04, 0x05, 0x30, 0x31, 0x32, 0x43, 0x63, 0x83, 0x8B, 0x8E, 0xCB}
SAFE_CRS = {"name", "epsg", "ogc"}  # GeoJSON CRS kinds GDAL resolves locally ("link": fetched)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Format:
    """A format registered beside the built-in ones: ``sniff`` says whether a file's first
    4 KB are this format; ``read(path, label)`` returns its rows as a
    ``sources.SourceTable`` (a plain table, lon/lat or wkt columns placing rows, or a geometry
    array with its CRS)."""

    name: str
    what: str  # how messages name it: "JSON Lines (.jsonl)"
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    read: Callable[[Path, str], Any]


REGISTERED: dict[str, Format] = {}


def _by_suffix() -> dict[str, Format]:
    return {suffix: f for f in REGISTERED.values() for suffix in f.suffixes}


def register(fmt: Format) -> Format:
    """Make ``fmt`` a format citybrain imports (its suffixes must be new)."""
    taken = [s for s in fmt.suffixes if s in SUFFIXES or s in _by_suffix()]
    if taken or fmt.name in WHAT or fmt.name in REGISTERED:
        raise ValueError(f"format {fmt.name!r}: {', '.join(taken) or 'the name'} is taken")
    REGISTERED[fmt.name] = fmt
    return fmt


def registered_suffixes() -> dict[str, Format]:
    """The registered formats by suffix (a deployment's modules imported first:
    ``CITYBRAIN_IMPORT_MODULES``)."""
    _import_modules()
    return {suffix: f for f in REGISTERED.values() for suffix in f.suffixes}


_imported = False


def _import_modules() -> None:
    global _imported
    if not _imported:
        import importlib

        from citybrain.settings import get_settings

        for module in get_settings().format_modules:
            importlib.import_module(module)
        _imported = True


def allowed() -> str:
    """The formats citybrain imports, for messages."""
    _import_modules()
    return ", ".join([ALLOWED, *(f.what for f in REGISTERED.values())])


def refuse(what: str, why: str) -> InvalidInput:
    return InvalidInput(f"{what}: {why}. citybrain imports {allowed()}")


def unpack_budget(max_unpacked_mb: int | None = None) -> int:
    """Bytes a zip or workbook may unpack to: ``max_unpacked_mb``, by default
    ``UNPACK_GROWTH`` times the upload limit."""
    if max_unpacked_mb is None:
        from citybrain.settings import get_settings

        max_unpacked_mb = UNPACK_GROWTH * get_settings().import_max_mb
    return max_unpacked_mb * 2**20


def identify(path: Path, what: str | None = None, whole: bool = True) -> str:
    """The format of ``path`` (a key of :data:`DRIVERS`, or csv, xlsx, parquet, zip): the one
    its suffix claims, if its bytes are that (``whole``: all of a JSON file's, else its
    first)."""
    what = what or path.name
    if str(path.resolve()).startswith("/vsi"):  # GDAL would read such a path as a URL
        raise refuse(what, "not a plain local file")
    claimed = SUFFIXES.get(path.suffix.lower())
    extra = registered_suffixes().get(path.suffix.lower())
    if extra is not None:
        with path.open("rb") as f:
            if not extra.sniff(f.read(4096)):
                raise refuse(what, f"its name says {extra.what}, but its bytes are not")
        return extra.name
    if claimed is None:
        raise refuse(what, f"{path.suffix or 'no suffix'} is not a format citybrain imports")
    found = _sniff(path)
    if claimed == "dbf" and found == "csv" and _is_dbf(path):
        found = "dbf"
    if claimed == "geojson" and found == "json":
        if whole:
            _check_geojson(path, what)
        found = "geojson"
    if claimed == "csv" and found == "csv":
        return "csv"
    if found != claimed:
        raise refuse(what, f"its name says {WHAT[claimed]}, but it holds {WHAT[found]}")
    return found


def screen(path: Path, what: str, budget: int) -> None:
    """What can be refused without a reader, for a process about to hand the file to another
    (an API worker, before it starts an import's process): a format its first bytes belie, a
    Shapefile's parts, a zip's or workbook's members and the bytes they unpack to. The reading
    checks it all again, and the rest (a GeoJSON's content)."""
    kind = identify(path, what, whole=False)
    if kind in ("zip", "xlsx"):
        for _member, _chunk in _members(path, what, budget, sender_files=kind == "zip"):
            pass
    elif kind == "shp":
        check_parts(path, what)


def check_parts(shp: Path, what: str) -> None:
    """The parts GDAL reads beside a ``.shp`` are what their names say: the index has the
    ``.shp``'s header, the attribute table is a dBase table."""
    for path in shp.parent.glob(glob.escape(shp.stem) + ".*"):
        part = path.suffix.lower()
        if (part == ".shx" and _sniff(path) != "shp") or (part == ".dbf" and not _is_dbf(path)):
            raise refuse(what, f"{path.name} is not a Shapefile's {part}")


def _sniff(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(4096)
        f.seek(max(path.stat().st_size - 4, 0))
        tail = f.read(4)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_kind(path)
    if head.startswith(SQLITE):
        return "gpkg" if head[68:72] in GPKG_IDS else "sqlite"
    if head[:4] == b"PAR1" and tail == b"PAR1":
        return "parquet"
    if head.startswith(OLE):
        return "ole"
    if (
        len(head) >= 100
        and int.from_bytes(head[0:4], "big") == 9994
        and int.from_bytes(head[28:32], "little") == 1000
        and int.from_bytes(head[32:36], "little") in SHP_TYPES
    ):
        return "shp"
    text = _start_of_text(head)
    if text.startswith("<"):
        return "xml"
    if text.startswith(("{", "[")):
        return "json"
    return "csv"


def _start_of_text(head: bytes) -> str:
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, "ignore").lstrip()
    return head.decode("latin-1").lstrip()


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        return "zip"  # unpack() says what is wrong with it
    return "xlsx" if {"[Content_Types].xml", "xl/workbook.xml"} <= names else "zip"


def _is_dbf(path: Path) -> bool:
    """A dBase table's header: its field descriptors, ended by 0x0D, add up to its record
    length, and the records fit in the file."""
    with path.open("rb") as f:
        head = f.read(32 + 32 * 256 + 1)
    if len(head) < 33 or head[0] not in DBF_VERSIONS:
        return False
    records = int.from_bytes(head[4:8], "little")
    header, record = int.from_bytes(head[8:10], "little"), int.from_bytes(head[10:12], "little")
    width, at = 1, 32  # a record starts with its deletion flag
    while at < min(header, len(head)) and head[at] != 0x0D:
        width += head[at + 16] if at + 16 < len(head) else 0
        at += 32
    return (
        at < header
        and at < len(head)
        and head[at] == 0x0D
        and width == record
        and path.stat().st_size >= header + records * record
    )


class _Seen:
    """What is kept of a JSON object once it is checked: its ``type``."""

    __slots__ = ("type",)

    def __init__(self, type_: object):
        self.type = type_


def _check_geojson(path: Path, what: str) -> None:
    """A GeoJSON Feature or FeatureCollection, and no CRS that GDAL would fetch (the 2008
    spec's ``"crs": {"type": "link"}``, at any level). Objects are checked as they are parsed
    and dropped: a large file costs no more memory than its largest geometry."""

    def seen(pairs: list[tuple[str, object]]) -> _Seen:
        kind = None
        for key, value in pairs:
            if key == "type" and isinstance(value, str):
                kind = value
            elif key == "crs" and value is not None:
                crs = value.type if isinstance(value, _Seen) else None
                if not isinstance(crs, str) or crs.lower() not in SAFE_CRS:
                    raise refuse(what, f"its CRS is given as {crs!r}, not by name or EPSG code")
        return _Seen(kind)

    try:
        top = json.loads(path.read_bytes(), object_pairs_hook=seen)
    except (ValueError, RecursionError) as exc:
        raise refuse(what, f"it is not valid JSON ({exc})") from None
    if not isinstance(top, _Seen) or top.type not in ("FeatureCollection", "Feature"):
        kind = top.type if isinstance(top, _Seen) else type(top).__name__
        raise refuse(what, f"it is JSON but not a GeoJSON FeatureCollection or Feature ({kind})")


# --- zips and workbooks: real bytes, within a budget -------------------------------------------


def check_workbook(path: Path, what: str, budget: int) -> None:
    """Every member of an XLSX read through once, its real bytes counted: a workbook that
    unpacks to more than ``budget`` is refused before a spreadsheet reader opens it."""
    for _member, _chunk in _members(path, what, budget, sender_files=False):
        pass


def unpack(path: Path, folder: Path, what: str, budget: int) -> Path:
    """The zip's files written into ``folder`` (their folders flattened), within ``budget``
    bytes; the one to read: its Shapefile's ``.shp``, or its one file."""
    files: list[Path] = []
    out = None
    try:
        for member, chunk in _members(path, what, budget, sender_files=True):
            if not chunk:  # a member's first chunk: its file begins (names are unique)
                if out is not None:
                    out.close()
                files.append(folder / Path(member.filename).name)
                out = files[-1].open("wb")
            elif out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    shp = [p for p in files if p.suffix.lower() == ".shp"]
    data = [p for p in files if p.suffix.lower() in SUFFIXES]
    if len(shp) == 1:
        return shp[0]
    if not shp and len(data) == 1:
        return data[0]
    raise refuse(what, "a zip must hold one Shapefile (its .shp, .dbf, .shx, .prj) or one file")


def _files(z: zipfile.ZipFile, what: str) -> list[zipfile.ZipInfo]:
    """The members that are the sender's files, each one citybrain reads, each name once.
    (macOS adds __MACOSX/ resource forks and .DS_Store: skipped.)"""
    readable = (set(SUFFIXES) - {".zip"}) | SHAPEFILE_PARTS
    members, names = [], set()
    for m in z.infolist():
        name = Path(m.filename).name
        if m.is_dir() or m.filename.startswith("__MACOSX/") or name.startswith("."):
            continue
        if Path(name).suffix.lower() not in readable:
            raise refuse(what, f"it holds {m.filename}: not a file citybrain reads")
        if name.lower() in names:
            raise refuse(what, f"it holds two files named {name}")
        names.add(name.lower())
        members.append(m)
    return members


def _members(
    path: Path, what: str, budget: int, sender_files: bool
) -> Iterator[tuple[zipfile.ZipInfo, bytes]]:
    """(member, chunk) of the zip's members as they unpack, each member's first chunk empty
    (``sender_files``: only those :func:`_files` accepts, else every one); stops as soon as
    the bytes that came out pass ``budget`` (a header may say 100 bytes and hold 200 MB)."""
    limit = f"{budget / 2**20:g} MB ({UNPACK_GROWTH} x CITYBRAIN_IMPORT_MAX_MB)"
    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            members = (
                _files(z, what) if sender_files else [m for m in z.infolist() if not m.is_dir()]
            )
            if sum(m.file_size for m in members) > budget:  # honest headers: refused unread
                raise TooLarge(f"{what} unpacks to more than {limit}")
            for member in members:
                yield member, b""  # (an empty file is a file too)
                with z.open(member) as data:
                    while chunk := data.read(CHUNK):
                        total += len(chunk)
                        if total > budget:
                            raise TooLarge(f"{what} unpacks to more than {limit}")
                        yield member, chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # (RuntimeError: an encrypted member; NotImplementedError: an unknown compression)
        raise refuse(what, f"it is not a readable zip file ({exc})") from None


# --- GDAL ----------------------------------------------------------------------------------------

NO_NETWORK = {
    # /vsicurl/, /vsis3/ and GDAL's other network file systems open this one name only.
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/citybrain/no-network",
    # GDAL's own HTTP requests (a CRS given as a URL, a WFS server) go through a proxy of a
    # scheme curl does not know: refused before any connection is made. (A NO_PROXY in the
    # environment bypasses it for its hosts; the checks above do not rely on it.)
    "GDAL_HTTP_PROXY": "no-network://",
    "GDAL_HTTPS_PROXY": "no-network://",
}
_gdal_lock = threading.Lock()
_gdal_ready = False


def gdal():
    """pyogrio, once GDAL in this process has only the drivers of :data:`DRIVERS` and no
    network: VRT, WFS, OAPIF and the rest are unloaded, whatever a file holds."""
    global _gdal_ready
    import pyogrio

    with _gdal_lock:
        if not _gdal_ready:
            keep = set(DRIVERS.values())
            skip = [d for d in pyogrio.list_drivers() if d not in keep]
            pyogrio.set_gdal_config_options({**NO_NETWORK, "GDAL_SKIP": ",".join(skip)})
            from pyogrio._ogr import _register_drivers

            _register_drivers()  # registering again applies GDAL_SKIP: the others unload
            left = set(pyogrio.list_drivers()) - keep
            if left:  # never read a file with them loaded
                raise RuntimeError(f"GDAL drivers could not be unloaded: {sorted(left)}")
            _gdal_ready = True
    return pyogrio
