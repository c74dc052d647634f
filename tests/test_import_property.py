"""Every bad cell is a reported row, never a traceback (docs/import.md: every row is checked
before anything is written, and a rejected row stops the import with a report naming the row,
the field, the reason and the value).

For each layer a valid file is made from the county's own rows (an export, which imports back
as it is); hypothesis puts bad cells into some of its rows - text in numbers, numbers in
enums, empty required cells, huge and negative values, NaN and infinity, dates that are not
dates, control characters and NUL - writes it as CSV or XLSX and imports it, through the
library and through the ``citybrain`` command. Exactly the damaged rows must be rejected, each
naming the damaged cell's column, and nothing may be written.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from openpyxl.cell import WriteOnlyCell
from psycopg import sql

from citybrain.db.connection import libpq_conninfo
from citybrain.errors import InvalidInput
from citybrain.exporter import export_layer
from citybrain.importer.mapping import targets
from citybrain.importer.write import own_prefix
from citybrain.layers import Column, Layer, import_order, importable, load_layers
from tests.utils.cli import citybrain
from tests.utils.databases import clone_database, sibling, snapshot
from tests.utils.offices import import_file, points_on

LAYERS = [layer.id for layer in import_order(load_layers(Path(__file__).parents[1] / "layers"))]
ROWS = 5  # a few bad cells among them leave most rows in the county (no CRS is guessed wrong)
HEADERS = {"lon": "经度", "lat": "纬度"}  # as offices write them: the file holds UTF-8 Chinese
EXTRA = "备注"  # a column no citybrain column takes (kept as the rows' attributes)
LOCATION = {"lon", "lat", "wkt"}  # a bad one may be reported as the row's geometry
LIBRARY_EXAMPLES = 30  # per layer, through run_import (a fraction of a second each)
COMMAND_EXAMPLES = 2  # per layer, through the command (seconds each: a Python start-up)
SETTINGS = settings(
    deadline=None,
    database=None,  # (no .hypothesis/ directory in the shared checkout)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def untouched(seeded: str) -> dict[str, str]:
    """The digest of a copy of the county as fresh_county makes it, before any import."""
    url = sibling(seeded, "_improp")
    clone_database(sibling(seeded, "_county"), url)
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return snapshot(conn, sequences=False)  # (a rolled-back insert moves sequences)


# --- the valid files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Valid:
    """A layer's valid rows as text cells, and what each header feeds."""

    layer: Layer
    frame: pd.DataFrame
    columns: dict[str, Column]  # header -> the citybrain column it feeds (EXTRA: none)

    @classmethod
    def of(cls, url: str, layer_name: str, tmp: Path) -> Valid:
        layer = importable(layer_name)
        path = tmp / f"{layer_name}-valid.csv"
        with psycopg.connect(libpq_conninfo(url)) as conn:
            if layer.key == "external_id":
                ids = conn.execute(
                    "SELECT id FROM citybrain.incidents ORDER BY id LIMIT %s", [ROWS]
                ).fetchall()
                keys = [f"{own_prefix(conn)}{i}" for (i,) in ids]
            else:
                query = sql.SQL("SELECT code FROM {} ORDER BY code LIMIT %s").format(
                    sql.Identifier("citybrain", layer_name)
                )
                keys = [c for (c,) in conn.execute(query, [ROWS]).fetchall()]
            export_layer(conn, layer_name, path, where=[f"{layer.key}={','.join(keys)}"])
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert len(frame) == ROWS
        frame[EXTRA] = [f"第{i + 1}行备注" for i in range(ROWS)]
        frame = frame.rename(columns=HEADERS)
        by_name = {c.name: c for c in targets(layer)}
        columns = {HEADERS.get(n, n): by_name[n] for n in by_name if HEADERS.get(n, n) in frame}
        return cls(layer, frame, columns)


# --- bad cells ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    row: int  # 0-based among the data rows (the file's row is row + 2: the header is row 1)
    header: str
    value: str | int | float | None  # None: an empty cell
    fields: frozenset[str]  # what the report may name for it


@dataclass(frozen=True)
class Damage:
    cells: tuple[Cell, ...]
    fmt: str  # csv or xlsx

    @property
    def rows(self) -> set[int]:
        return {c.row + 2 for c in self.cells}


LETTERS = st.characters(categories=("L",))  # no digits, parentheses, colons or separators
# Text no column's parser reads: "q" starts no number, DMS angle, hemisphere, nan or inf;
# without digits it names no year.
WORDS = st.text(LETTERS, min_size=0, max_size=12).map(lambda s: "q" + s)
LONG = st.text(LETTERS, min_size=1, max_size=4).map(lambda s: ("q" + s) * 4_000)
LONG_KEY = st.tuples(st.text(LETTERS, min_size=1, max_size=8), st.integers(201, 3_000)).map(
    lambda t: (t[0] * 3_000)[: t[1]]
)
EMPTY = st.sampled_from([None, "", "   "])
INFINITE = ["inf", "-inf", "Infinity", "-Infinity", "1e309"]
NOT_FINITE = {
    "csv": st.sampled_from(["nan", "NaN", *INFINITE]),
    "xlsx": st.sampled_from(["nan", "NaN", "NA", "null", *INFINITE]),  # (text, as in a CSV)
}
CONTROL = st.builds(
    lambda a, c, b: f"{a}{c}{b}",
    st.integers(0, 999),
    st.sampled_from([chr(c) for c in (*range(1, 9), 11, 12, *range(14, 32), 127)]),
    st.integers(0, 999),
)
NUL = st.builds(
    lambda a, b: f"{a}\x00{b}", st.text(LETTERS, max_size=4), st.text(LETTERS, max_size=4)
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
HUGE_INTS = st.one_of(st.integers(2**31, 10**40), st.integers(-(10**40), -(2**31) - 1))
FRACTIONS = FINITE.filter(lambda f: not f.is_integer())
# (Years 1899-1900 and 2199-2200 are left out: local midnight is the other side of the limit.)
NOT_DATES = st.one_of(
    st.builds(
        lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d} 08:00:00",
        st.one_of(st.integers(0, 1898), st.integers(2201, 9999)),
        st.integers(1, 12),
        st.integers(1, 28),
    ),
    st.builds(
        lambda y, m, d: f"{y}年{m}月{d}日",
        st.integers(1901, 2198),
        st.integers(13, 99),
        st.integers(1, 31),
    ),
    st.sampled_from(
        ["2026-02-30 08:00:00", "2026/13/01", "2026-01-01 25:61:00", "12:00", "1,5", "now", "-5"]
    ),
)
# Neither Excel serial days (20,000-80,000) nor a year in full.
NOT_SERIAL = st.one_of(st.integers(-(10**6), 19_999), st.integers(80_001, 10**9))


def _shown(value) -> str:
    """A number as a spreadsheet cell reads back: 3.0 is 3."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


def _outside(strategy, *taken: str):
    """Values that are none of ``taken`` (compared as read)."""
    known = {t.strip().lower() for t in taken}
    return strategy.filter(lambda v: _shown(v) not in known)


def _required(layer: Layer, column: Column) -> bool:
    if layer.id == "towns" and column.name == "code":
        return False  # a town of the county is known by its name
    return column.required or column.name in LOCATION


def _bad_values(layer: Layer, column: Column, fmt: str) -> st.SearchStrategy:
    """Values that make a row of ``layer`` wrong when put into ``column``."""
    name, kind = column.name, column.kind
    out = [NUL]
    if _required(layer, column):
        out.append(EMPTY)
    if kind != "text":
        out += [CONTROL, LONG]
    if kind == "text":
        if name == layer.key:
            out.append(LONG_KEY)
        if name in ("parent", "grid", "team"):
            out += [WORDS, st.integers(-999, -1)]  # no such code
        if name == "wkt":
            out += [WORDS, st.just("POINT (120.9 30.85)")]
    elif kind in ("float", "int"):
        out += [WORDS, NOT_FINITE[fmt]]
    if kind == "float":
        wrong = {  # (any heading is one: it is taken modulo 360)
            "lon": lambda f: not 100 <= f <= 140,  # far outside the county
            "lat": lambda f: not 10 <= f <= 50,
            "fov": lambda f: not 0 < f <= 360,
            "range_m": lambda f: not 0 < f <= 500,
        }.get(name)
        if wrong is not None:
            out.append(FINITE.filter(wrong))
    if kind == "int":
        out += [HUGE_INTS, FRACTIONS]
        below = {"capacity": 1, "population": 0, "households": 0, "severity": 1}
        if name in below and not (layer.id == "facilities" and name == "capacity"):
            out.append(st.integers(-(10**6), below[name] - 1))
        if name == "severity":
            out.append(st.integers(5, 10**6))
    if kind == "bool":
        out += [WORDS, _outside(st.one_of(st.integers(), FINITE), "0", "1")]
    if kind == "time":
        out += [WORDS, NOT_DATES, NOT_SERIAL]
    if kind == "enum":
        taken = (*column.choices, *column.values)
        out += [_outside(WORDS, *taken), _outside(st.one_of(st.integers(), FINITE), *taken)]
    if kind in ("categories", "members"):
        out += [WORDS, st.one_of(st.integers(), FINITE)]
    if kind == "members":
        out.append(st.sampled_from(["[", "[1]", "[{}]", '[{"name": "张三"}]', "{}"]))
    return st.one_of(out)


@st.composite
def damages(draw, valid: Valid) -> Damage:
    """One or two bad cells, each in a row of its own."""
    fmt = draw(st.sampled_from(["csv", "xlsx"]))
    n = draw(st.integers(1, 2))
    rows = draw(st.lists(st.integers(0, ROWS - 1), min_size=n, max_size=n, unique=True))
    cells = []
    for row in rows:
        header = draw(st.sampled_from([*sorted(valid.columns), EXTRA]))
        column = valid.columns.get(header)
        if column is None:  # text kept as JSON: only a NUL is wrong there
            cells.append(Cell(row, header, draw(NUL), frozenset({header})))
            continue
        value = draw(_bad_values(valid.layer, column, fmt))
        fields = {header, "geometry"} if column.name in LOCATION else {header}
        cells.append(Cell(row, header, value, frozenset(fields)))
    return Damage(tuple(cells), fmt)


# --- the files ---------------------------------------------------------------------------------

_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def write(valid: Valid, damage: Damage, tmp: Path) -> Path:
    frame = valid.frame.astype(object).copy()
    for cell in damage.cells:
        frame.loc[cell.row, cell.header] = cell.value
    path = tmp / f"{valid.layer.id}.{damage.fmt}"
    if damage.fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(frame.columns)
            out.writerows(
                ["" if v is None else str(v) for v in row]
                for row in frame.itertuples(index=False, name=None)
            )
        return path
    numeric = {h for h, c in valid.columns.items() if c.kind in ("float", "int")}
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        cells = zip(frame.columns, row, strict=True)
        sheet.append([_xlsx(sheet, v, h in numeric) for h, v in cells])
    book.save(path)
    return path


def _xlsx(sheet, value, numeric: bool):
    """A cell as offices' spreadsheets hold it: numbers as numbers, text as text (control
    characters escaped as Excel writes them, _x0001_)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and abs(value) >= 2**53:
        return float(value)  # (Excel's numbers are doubles)
    if isinstance(value, int | float):
        return value
    if numeric:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):  # (NaN and infinity stay text: XLSX has no such numbers)
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
    cell = WriteOnlyCell(sheet, value=_ILLEGAL_XML.sub(lambda m: f"_x{ord(m[0]):04X}_", value))
    cell.data_type = "s"  # (a value beginning with = stays a value)
    return cell


# --- the property ------------------------------------------------------------------------------


def _assert_reported(damage: Damage, entries: list[tuple[int, str]]) -> None:
    named: dict[int, set[str]] = {}
    for row, field in entries:
        named.setdefault(row, set()).add(field)
    assert set(named) == damage.rows, (named, damage)
    for cell in damage.cells:
        assert named[cell.row + 2] & cell.fields, (cell, named[cell.row + 2])


def _imports(url: str) -> int:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return conn.execute("SELECT count(*) FROM citybrain.imports").fetchone()[0]


@pytest.mark.parametrize("layer", LAYERS)
def test_every_bad_cell_is_a_reported_row(
    fresh_county: str, untouched: dict[str, str], layer: str, tmp_path: Path
) -> None:
    url = fresh_county  # (one database for all the examples: none may write)
    valid = Valid.of(url, layer, tmp_path)
    clean = import_file(url, layer, write(valid, Damage((), "csv"), tmp_path), dry_run=True)
    assert clean.ok, clean.entries  # the file is valid before any cell is damaged
    runs = _imports(url)

    @settings(SETTINGS, max_examples=LIBRARY_EXAMPLES)
    @given(damage=damages(valid))
    def imported(damage: Damage) -> None:
        note(repr(damage))  # (hypothesis shows a composite's draw as nothing)
        path = write(valid, damage, tmp_path)
        try:
            report = import_file(url, layer, path)
        except InvalidInput as exc:
            raise AssertionError(f"the whole file refused for a bad row: {exc.detail}") from exc
        assert not report.written
        rejected = [(e.row, e.field) for e in report.entries if e.outcome == "rejected"]
        _assert_reported(damage, rejected)
        assert _imports(url) == runs

    imported()
    with psycopg.connect(libpq_conninfo(url)) as conn:
        assert snapshot(conn, sequences=False) == untouched


@pytest.mark.parametrize("layer", LAYERS)
def test_the_command_reports_every_bad_cell(
    fresh_county: str, untouched: dict[str, str], layer: str, tmp_path: Path
) -> None:
    url = fresh_county
    valid = Valid.of(url, layer, tmp_path)

    @settings(SETTINGS, max_examples=COMMAND_EXAMPLES)
    @given(damage=damages(valid))
    def imported(damage: Damage) -> None:
        note(repr(damage))  # (hypothesis shows a composite's draw as nothing)
        path = write(valid, damage, tmp_path)
        report = tmp_path / "report.csv"
        report.unlink(missing_ok=True)
        run = citybrain(url, "import", layer, str(path), "--report", str(report))
        out = run.stdout + run.stderr
        assert "Traceback" not in out, out[-4000:]
        assert run.returncode == 1 and "NOT written" in out, out[-4000:]
        with report.open(encoding="utf-8-sig", newline="") as f:
            entries = [
                (int(e["row"]), e["field"]) for e in csv.DictReader(f) if e["outcome"] == "rejected"
            ]
        _assert_reported(damage, entries)

    imported()
    with psycopg.connect(libpq_conninfo(url)) as conn:
        assert snapshot(conn, sequences=False) == untouched


def test_a_csv_mixing_utf8_and_gbk_is_refused(fresh_county: str, tmp_path: Path) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        at = points_on(conn, "grids", 2)
    path = tmp_path / "cams.csv"
    path.write_bytes(
        f"code,name,kind,lon,lat\nC-1,东门球机,dome,{at['lon'][0]},{at['lat'][0]}\n".encode()
        + b"C-2,"
        + "西门枪机".encode("gbk")  # (these bytes and the rest read as GB 18030 mojibake)
        + f",bullet,{at['lon'][1]},{at['lat'][1]}\n".encode()
    )
    with pytest.raises(InvalidInput, match="mixes encodings: line 2 is UTF-8 and line 3 is not"):
        import_file(fresh_county, "cameras", path, dry_run=True)
