"""CQL2 filters (OGC API – Features Part 3) as SQL conditions on a layer's table.

The ``cql2`` package parses and validates a filter (text or JSON) into CQL2-JSON; this module
translates that tree into a ``psycopg.sql`` condition: properties become ``sql.Identifier`` of
the layer's queryables only (its exposed properties, ``id`` and ``geometry``: personal columns
are out of reach), every value a bound parameter. cql2 accepts trees of any shape (``BBOX(1,2,3)``,
a NOT without arguments), so the translation checks each node as it reads it: the number of its
arguments, what each is, and types against the columns' own (a text property compared with a
number is a 400 saying so, not a database error); whatever does not fit is a 400 naming it and
what was expected, on the items and the tile routes alike.

Times: ``TIMESTAMP('…')`` is UTC as CQL2 defines it (the parser reads a zone-less one as UTC);
a ``DATE('…')``, a date in ``INTERVAL(…)``, and a plain string compared with a time property
follow the API's one time rule (services.window: no zone means CITYBRAIN_TIMEZONE), a date
being its whole local day. Geometries (WKT, GeoJSON, ``BBOX``) are in ``filter-crs``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import cql2
import numpy as np
import shapely
import shapely.geometry
from psycopg import sql
from psycopg.sql import Composable

from citybrain.errors import InvalidInput
from citybrain.services.refcrs import CRS84, RefCrs, bbox_to_crs84, to_storage
from citybrain.services.window import instant

LANGS = ("cql2-text", "cql2-json")
# What one filter may hold: a filter is parsed on a public route, so its work is bounded before
# the parser sees it (a few thousand nested parentheses crash cql2 0.6's parser; deep NOTs
# make its validation take seconds and gigabytes).
MAX_CHARS = 65_536  # a polygon of a few thousand vertices (a town drawn in QGIS) fits
MAX_DEPTH = 64  # levels of the filter's tree (a condition inside NOT, AND, OR ... adds two)
MAX_LIST = 1000  # values of one IN list
# JSON Schema types of the column types the layers use (format_type's names).
TYPES = {
    "text": "string",
    "character varying": "string",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "real": "number",
    "double precision": "number",
    "numeric": "number",
    "boolean": "boolean",
    "timestamp with time zone": "datetime",
    "date": "date",
}
COMPARE = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {
    f"s_{n}": f"ST_{n.capitalize()}"
    for n in ("intersects", "disjoint", "equals", "touches", "within", "overlaps", "crosses")
} | {"s_contains": "ST_Contains"}
# Allen's relations as CQL2 defines them, on (start, end) of both sides.
TEMPORAL = {
    "t_after": "{a0} > {b1}",
    "t_before": "{a1} < {b0}",
    "t_contains": "{a0} < {b0} AND {a1} > {b1}",
    "t_disjoint": "NOT ({a0} <= {b1} AND {a1} >= {b0})",
    "t_during": "{a0} > {b0} AND {a1} < {b1}",
    "t_equals": "{a0} = {b0} AND {a1} = {b1}",
    "t_finishedby": "{a0} < {b0} AND {a1} = {b1}",
    "t_finishes": "{a0} > {b0} AND {a1} = {b1}",
    "t_intersects": "{a0} <= {b1} AND {a1} >= {b0}",
    "t_meets": "{a1} = {b0}",
    "t_metby": "{a0} = {b1}",
    "t_overlappedby": "{a0} > {b0} AND {a0} < {b1} AND {a1} > {b1}",
    "t_overlaps": "{a0} < {b0} AND {a1} > {b0} AND {a1} < {b1}",
    "t_startedby": "{a0} = {b0} AND {a1} > {b1}",
    "t_starts": "{a0} = {b0} AND {a1} < {b1}",
}
NUMBERS = {"integer", "number"}
TIMES = {"datetime", "date", "interval"}


@dataclass(frozen=True)
class Filter:
    """A parsed filter: its CQL2-JSON tree, the CRS of its geometries and the time zone of
    its zone-less times."""

    tree: Any
    crs_uri: str = CRS84
    tz: str = "Asia/Shanghai"

    @property
    def key(self) -> str:
        """The same text for the same filter, however it was written (cache keys, ETags)."""
        return json.dumps([self.tree, self.crs_uri, self.tz], sort_keys=True, ensure_ascii=False)


def parse(text: str, lang: str | None, crs: RefCrs, tz: ZoneInfo) -> Filter:
    """A ``filter`` parameter in ``filter-lang`` (cql2-text by default; cql2-json); 400 with
    the parser's message."""
    lang = "cql2-text" if lang in (None, "cql-text") else lang  # cql-text: the draft's name
    if lang not in LANGS:
        raise InvalidInput(f"filter-lang {lang!r}: one of {', '.join(LANGS)}")
    if len(text) > MAX_CHARS:
        raise InvalidInput(f"filter: {len(text)} characters; at most {MAX_CHARS}")
    try:
        depth = _text_depth(text) if lang == "cql2-text" else _depth(json.loads(text)) // 2
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"filter ({lang}) is not valid CQL2: {exc}") from None
    _bounded(depth)
    try:
        expr = cql2.parse_text(text) if lang == "cql2-text" else cql2.parse_json(text)
        # (No expr.validate(): its JSON-schema check is exponential in nesting, and the
        # translation checks every node it reads, with its reason.)
        tree = expr.to_json()
    except Exception as exc:  # ParseError; a bare Exception from to_json (POINT EMPTY)
        raise InvalidInput(f"filter ({lang}) is not valid CQL2: {exc}") from None
    _bounded(_depth(tree) // 2)
    return Filter(tree, crs.uri, tz.key)


def _bounded(depth: int) -> None:
    if depth > MAX_DEPTH // 2:
        raise InvalidInput(
            f"filter: nested {depth} levels deep; at most {MAX_DEPTH // 2} (parentheses, NOT)"
        )


def _text_depth(text: str) -> int:
    """How deep a CQL2 text nests: parentheses and NOTs outside quoted strings (a bound on the
    parser's recursion, counted without it)."""
    depth = deepest = nots = 0
    quoted = False
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted  # '' inside a string toggles twice
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
        elif ch in "nN" and text[i : i + 3].lower() == "not" and _word_at(text, i, 3):
            nots += 1
    return max(deepest, nots)


def _word_at(text: str, i: int, n: int) -> bool:
    before = text[i - 1] if i else " "
    after = text[i + n] if i + n < len(text) else " "
    return not (before.isalnum() or before == "_" or after.isalnum() or after == "_")


def _depth(tree: Any) -> int:
    """Levels of a JSON tree, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict | list):
            stack.extend((child, level + 1) for child in children)
    return deepest


@dataclass
class Typed:
    sql: Composable
    kind: str  # string, integer, number, boolean, datetime, date, interval, geometry, null
    span: tuple[Composable, Composable] | None = None  # a time's (first, last) instant
    raw: Any = None  # a literal's own value


# What each operator takes: (fewest, most (None: no bound), what they are). The translation
# counts a node's arguments against this before it reads one, so that no shape a client can
# send (cql2 parses "BBOX(1,2,3)" or {"op": "not", "args": []} without complaint) reaches an
# index that is not there.
ARITY: dict[str, tuple[int, int | None, str]] = {
    "and": (2, None, "conditions"),
    "or": (2, None, "conditions"),
    "not": (1, 1, "condition"),
    **{op: (2, 2, "values") for op in COMPARE},
    "like": (2, 2, "arguments (a text and its pattern)"),
    "between": (3, 3, "arguments (a value, its lowest and its highest)"),
    "in": (2, 2, "arguments (a value and a list of values)"),
    "isnull": (1, 1, "value"),
    **{op: (2, 2, "geometries") for op in SPATIAL},
    **{op: (2, 2, "times") for op in TEMPORAL},
    "casei": (1, 1, "text"),
}
FUNCTIONS = {"casei"}  # operators that make a value, not a condition
ARITHMETIC = {"+", "-", "*", "/", "%", "^", "div"}
CONDITIONS = (
    "a condition is a comparison, LIKE, BETWEEN, IN, IS NULL, an S_* or T_* function, a "
    "boolean property, TRUE or FALSE, or AND, OR, NOT of conditions"
)
VALUES = (
    "a value is a text, a number, a boolean, NULL, a property, CASEI(...), TIMESTAMP(...), "
    "DATE(...), INTERVAL(...), a geometry or BBOX(...)"
)
GEOMETRIES = "the geometry property, a WKT or GeoJSON geometry, or BBOX(...)"


def _op(node: Any) -> str | None:
    """A node's operator, lower-cased (cql2 writes ``isNull``); None if it has none."""
    op = node.get("op") if isinstance(node, dict) else None
    return op.lower() if isinstance(op, str) else None


def _name(op: str) -> str:
    return "IS NULL" if op == "isnull" else op.upper()


def _show(node: Any, limit: int = 80) -> str:
    """A node as JSON for a message, cut short (a filter may be 64 KiB)."""
    text = json.dumps(node, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _what(node: Any) -> str:
    """What a node is, for a message: ``a number``, ``a list``, ``CASEI(...)``."""
    if node is None:
        return "NULL"
    for kind, what in ((bool, "a boolean"), (int | float, "a number"), (str, "a text")):
        if isinstance(node, kind):
            return f"{what} ({_show(node, 40)})"
    if isinstance(node, list):
        return f"a list of {len(node)}" if node else "an empty list"
    if isinstance(node, dict):
        if (op := _op(node)) is not None:
            return f"{_name(op)}(...)"
        for key, what in (
            ("property", "the property"),
            ("timestamp", "a TIMESTAMP"),
            ("date", "a DATE"),
            ("interval", "an INTERVAL"),
            ("bbox", "a BBOX"),
            ("type", "a geometry"),
        ):
            if key in node:
                return f"{what} {_show(node[key], 40)}" if key == "property" else what
    return _show(node, 40)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass
class Translator:
    """Translates one filter for one layer: ``queryables`` maps a name to its column kind.
    Every node's shape is checked as it is read; what does not fit is a 400 naming the node
    and what was expected there."""

    queryables: dict[str, str]
    crs: RefCrs
    tz: ZoneInfo
    params: dict[str, Any] = field(default_factory=dict)

    def where(self, f: Filter) -> sql.Composable:
        return self.predicate(f.tree)

    def bind(self, value: Any) -> sql.Composable:
        name = f"cql{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)

    @staticmethod
    def args(node: dict[str, Any], op: str) -> list[Any]:
        """The arguments of ``node``, as many as ``op`` takes (ARITY)."""
        fewest, most, what = ARITY[op]
        args = node.get("args", [])
        if not isinstance(args, list):
            raise InvalidInput(f"filter: {_name(op)} takes its {what} as a list, not {_what(args)}")
        if len(args) < fewest or (most is not None and len(args) > most):
            count = f"at least {fewest}" if most is None else str(fewest)
            raise InvalidInput(f"filter: {_name(op)} takes {count} {what}, got {len(args)}")
        return args

    # --- predicates -----------------------------------------------------------------------

    def predicate(self, node: Any) -> sql.Composable:
        if isinstance(node, bool):
            return sql.SQL("TRUE" if node else "FALSE")
        if isinstance(node, dict) and "property" in node:
            value = self.value(node)
            if value.kind != "boolean":
                raise InvalidInput(f"filter: {node['property']} is not a boolean condition")
            return value.sql
        op = _op(node)
        if op is None or op in FUNCTIONS:
            raise InvalidInput(f"filter: {_show(node)} is no condition ({CONDITIONS})")
        if op not in ARITY:
            raise InvalidInput(
                f"filter: {_show(node['op'], 40)} is not supported here; conditions: and, or, not, "
                "comparisons, like, between, in, is null, s_* and t_* functions, casei"
            )
        args = self.args(node, op)
        if op in ("and", "or"):
            joined = sql.SQL(f" {op.upper()} ").join(self.predicate(a) for a in args)
            return sql.SQL("({})").format(joined)
        if op == "not":
            return sql.SQL("(NOT {})").format(self.predicate(args[0]))
        if op in COMPARE:
            return self.compare(op, self.value(args[0]), self.value(args[1]))
        if op == "like":
            a, b = self.value(args[0]), self.value(args[1])
            self.expect(a, {"string"}, "LIKE")
            self.expect(b, {"string"}, "LIKE")
            _pattern(args[1])
            return sql.SQL("({} LIKE {})").format(a.sql, b.sql)
        if op == "between":
            a, low, high = (self.value(x) for x in args)
            return sql.SQL("({} AND {})").format(
                self.compare(">=", a, low), self.compare("<=", a, high)
            )
        if op == "in":
            return self.member(self.value(args[0]), args[1])
        if op == "isnull":
            return sql.SQL("({} IS NULL)").format(self.value(args[0]).sql)
        if op in SPATIAL:
            g, h = (self.geometry(x, _name(op)) for x in args)
            return sql.SQL("{}({}, {})").format(sql.SQL(SPATIAL[op]), g, h)
        (a0, a1), (b0, b1) = (self.span(x) for x in args)  # TEMPORAL: the ops left
        return sql.SQL("(" + TEMPORAL[op] + ")").format(a0=a0, a1=a1, b0=b0, b1=b1)

    def member(self, a: Typed, values: Any) -> sql.Composable:
        if not isinstance(values, list) or not values:
            raise InvalidInput(
                f"filter: IN takes a list of values as its second argument, not {_what(values)}"
            )
        if len(values) > MAX_LIST:
            raise InvalidInput(f"filter: IN lists {len(values)} values; at most {MAX_LIST}")
        return sql.SQL("({})").format(
            sql.SQL(" OR ").join(self.compare("=", a, self.value(v)) for v in values)
        )

    def compare(self, op: str, a: Typed, b: Typed) -> sql.Composable:
        if a.kind in TIMES or b.kind in TIMES:
            (a0, a1), (b0, b1) = self.span_of(a), self.span_of(b)
            # A date is its whole day: equal means within it, before means before it starts.
            rule = {
                "=": "{a0} >= {b0} AND {a1} <= {b1}",
                "<>": "NOT ({a0} >= {b0} AND {a1} <= {b1})",
                "<": "{a1} < {b0}",
                "<=": "{a0} <= {b1}",
                ">": "{a0} > {b1}",
                ">=": "{a1} >= {b0}",
            }[op]
            return sql.SQL("(" + rule + ")").format(a0=a0, a1=a1, b0=b0, b1=b1)
        if "geometry" in (a.kind, b.kind):  # (PostGIS has no <> for them; = and < sort them)
            raise InvalidInput(
                f"filter: {op} does not compare geometries; S_EQUALS, S_INTERSECTS and the other "
                "S_* functions do (and IS NULL tests for none)"
            )
        if not (a.kind == b.kind or {a.kind, b.kind} <= NUMBERS or "null" in (a.kind, b.kind)):
            raise InvalidInput(
                f"filter: cannot compare {_a(a.kind)} with {_a(b.kind)} (a string is quoted: "
                "category = '治安'; a number is not: severity >= 3)"
            )
        return sql.SQL("({} {} {})").format(a.sql, sql.SQL(COMPARE[op]), b.sql)

    @staticmethod
    def expect(value: Typed, kinds: set[str], what: str) -> None:
        if value.kind not in kinds:
            raise InvalidInput(
                f"filter: {what} takes {' or '.join(_a(k) for k in sorted(kinds))}, "
                f"not {_a(value.kind)}"
            )

    # --- values ---------------------------------------------------------------------------

    def value(self, node: Any) -> Typed:
        if node is None:
            return Typed(sql.NULL, "null")
        if isinstance(node, bool):
            return Typed(self.bind(node), "boolean")
        if isinstance(node, int | float):
            return self.number(node)
        if isinstance(node, str):
            if "\x00" in node:  # (PostgreSQL's text cannot hold it)
                raise InvalidInput("filter: a text cannot hold the character NUL")
            # typed: psycopg sends a str as unknown, which 'x' IS NULL cannot resolve
            return Typed(sql.SQL("{}::text").format(self.bind(node)), "string", raw=node)
        if isinstance(node, list):
            raise InvalidInput(
                f"filter: a list ({_show(node, 40)}) stands only as IN's second argument"
            )
        if not isinstance(node, dict):
            raise InvalidInput(f"filter: {_show(node)} is not a value here ({VALUES})")
        if "property" in node:
            return self.property(node["property"])
        if "timestamp" in node or "date" in node or "interval" in node:
            return self.time_literal(node)
        op = _op(node)
        if op == "casei":
            inner = self.value(self.args(node, op)[0])
            self.expect(inner, {"string"}, "CASEI")
            return Typed(sql.SQL("lower({})").format(inner.sql), "string")
        if op in ARITY:
            raise InvalidInput(f"filter: {_name(op)}(...) is a condition, not a value ({VALUES})")
        if op in ARITHMETIC:
            raise InvalidInput(f"filter: arithmetic ({op}) is not supported here")
        if "op" in node:
            raise InvalidInput(
                f"filter: the function {_show(node['op'])} is not supported here ({VALUES})"
            )
        if "bbox" in node or "type" in node:
            return Typed(self.geometry(node), "geometry")
        raise InvalidInput(f"filter: {_show(node)} is not a value here ({VALUES})")

    def number(self, node: float) -> Typed:
        if isinstance(node, int) and abs(node) < 2**63:
            return Typed(self.bind(node), "integer")
        try:
            number = float(node)
        except OverflowError:  # an integer of hundreds of digits
            number = math.inf
        if not math.isfinite(number):
            raise InvalidInput(f"filter: the number {_show(node, 40)} is out of range")
        if number.is_integer() and abs(number) < 2**63:  # 5.0 compares as the integer 5
            return Typed(self.bind(int(number)), "integer")
        return Typed(self.bind(number), "number")

    def property(self, name: Any) -> Typed:
        kind = self.queryables.get(name) if isinstance(name, str) else None
        if kind is None:
            raise InvalidInput(
                f"filter: {_show(name, 40)} is not a queryable of this collection; queryables: "
                f"{', '.join(self.queryables)} (see its /queryables)"
            )
        column = (
            sql.SQL("s.geom")
            if kind == "geometry"
            else sql.SQL("s.{}").format(sql.Identifier(name))
        )
        return Typed(column, kind)

    def geometry(self, node: Any, what: str = "a spatial function") -> sql.Composable:
        if isinstance(node, dict) and "property" in node:
            value = self.property(node["property"])
            self.expect(value, {"geometry"}, what)
            return value.sql
        if isinstance(node, dict) and "bbox" in node:
            return self.bbox(node["bbox"])
        if not isinstance(node, dict) or not isinstance(node.get("type"), str) or "op" in node:
            raise InvalidInput(f"filter: {what} takes geometries ({GEOMETRIES}), not {_what(node)}")
        try:
            shape = shapely.geometry.shape(node)
        except Exception as exc:  # shapely's errors on a malformed geometry
            raise InvalidInput(f"filter: not a geometry ({exc})") from None
        if not np.isfinite(shapely.get_coordinates(shape, include_z=shape.has_z)).all():
            raise InvalidInput("filter: a geometry's coordinates must be finite numbers")
        if not shape.is_valid:
            raise InvalidInput(f"filter: invalid geometry ({shapely.is_valid_reason(shape)})")
        if shape.geom_type == "GeometryCollection":
            # GEOS's relations fail on a collection whose parts overlap (a TopologyException,
            # on the tiles a 500); the point set it stands for is the union of its parts.
            shape = shapely.union_all(shape)
        literal = sql.SQL("ST_GeomFromWKB({})").format(self.bind(shapely.to_wkb(shape)))
        return to_storage(literal, self.crs)

    def bbox(self, box: Any) -> sql.Composable:
        """``BBOX(...)`` in filter-crs, by the API's one bbox rule (services.bbox: heights
        ignored, the lower corner first), as a stored geometry; corners that meet make a line
        or a point, which selects what it touches, as a bbox parameter's box does."""
        if not isinstance(box, list):
            raise InvalidInput(f"filter: BBOX takes 4 or 6 numbers, not {_what(box)}")
        if len(box) not in (4, 6):
            raise InvalidInput(f"filter: BBOX takes 4 or 6 numbers, got {len(box)}")
        if not all(_is_number(v) for v in box):
            bad = next(v for v in box if not _is_number(v))
            raise InvalidInput(f"filter: BBOX takes 4 or 6 numbers, not {_what(bad)}")
        corners = box if len(box) == 4 else [box[0], box[1], box[3], box[4]]
        w, s, e, n = bbox_to_crs84(corners, self.crs, "filter: BBOX")
        if (w, s) == (e, n):
            shape = shapely.Point(w, s)
        elif w == e or s == n:
            shape = shapely.LineString([(w, s), (e, n)])
        else:
            shape = shapely.box(w, s, e, n)
        return sql.SQL("ST_GeomFromWKB({}, 4326)").format(self.bind(shapely.to_wkb(shape)))

    def time_literal(self, node: dict[str, Any]) -> Typed:
        if "timestamp" in node:
            t = self.bind(self.instant(node["timestamp"], "TIMESTAMP"))
            return Typed(t, "datetime", (t, t))
        if "date" in node:
            first, last = (self.bind(t) for t in self.day(node["date"], "DATE"))
            return Typed(first, "date", (first, last))
        ends = node["interval"]
        if not isinstance(ends, list) or len(ends) != 2:
            got = len(ends) if isinstance(ends, list) else _what(ends)
            raise InvalidInput(
                f"filter: INTERVAL takes 2 ends (each a date, a timestamp or '..'), got {got}"
            )
        start, end = self.end(ends[0], 0), self.end(ends[1], 1)
        if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
            raise InvalidInput(f"filter: the INTERVAL {_show(ends)} ends before it starts")
        first, last = (self.bind(t) if isinstance(t, datetime) else t for t in (start, end))
        return Typed(first, "interval", (first, last))

    def end(self, node: Any, i: int) -> datetime | sql.Composable:
        """An INTERVAL's start (``i`` 0) or end (1): its time, or SQL for an open end or a time
        property; a date stands for its first or its last instant."""
        if node in ("..", None):
            return sql.SQL("'-infinity'::timestamptz" if i == 0 else "'infinity'::timestamptz")
        if isinstance(node, str):
            return self.day(node, "INTERVAL")[i] if len(node) == 10 else self.instant(node)
        if isinstance(node, dict) and "property" in node:
            return self.span_of(self.property(node["property"]))[i]
        if isinstance(node, dict) and "date" in node:
            return self.day(node["date"], "INTERVAL")[i]
        if isinstance(node, dict) and "timestamp" in node:
            return self.instant(node["timestamp"], "INTERVAL")
        raise InvalidInput(
            "filter: an INTERVAL's ends are dates, timestamps, '..' or a time property, "
            f"not {_what(node)}"
        )

    def instant(self, text: Any, what: str = "INTERVAL") -> datetime:
        if not isinstance(text, str):
            raise InvalidInput(
                f"filter: {what} takes a text such as '2026-03-01T08:00:00Z', not {_what(text)}"
            )
        return instant(text, self.tz, f"filter {what}" if what else "filter")

    def day(self, text: Any, what: str) -> tuple[datetime, datetime]:
        """A local calendar day as its first and last microsecond."""
        if not isinstance(text, str):
            raise InvalidInput(
                f"filter: {what} takes a text such as '2026-03-01', not {_what(text)}"
            )
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"filter: {_show(text, 40)} is not a date (YYYY-MM-DD)") from None
        return datetime.combine(d, time(), self.tz), datetime.combine(d, time.max, self.tz)

    def span(self, node: Any) -> tuple[sql.Composable, sql.Composable]:
        return self.span_of(self.value(node))

    def span_of(self, value: Typed) -> tuple[sql.Composable, sql.Composable]:
        if value.span is not None:
            return value.span
        if value.kind == "datetime":
            return value.sql, value.sql
        if value.kind == "string" and value.raw is None:
            raise InvalidInput("filter: a text property or CASEI(...) is not a time")
        if value.kind == "string":  # a time written as a plain string: the API's time rule
            if len(value.raw) == 10:
                first, last = self.day(value.raw, "")
                return self.bind(first), self.bind(last)
            t = self.bind(self.instant(value.raw, ""))
            return t, t
        raise InvalidInput(f"filter: {_a(value.kind)} is not a time")


def _pattern(node: Any) -> None:
    """A LIKE pattern written in the filter may not end in its escape character (PostgreSQL
    refuses such a pattern when it runs: the tiles' statements would fail on it)."""
    while _op(node) == "casei":
        node = node["args"][0]  # (its arguments were counted when it was read as a value)
    if isinstance(node, str) and (len(node) - len(node.rstrip("\\"))) % 2:
        raise InvalidInput(
            f"filter: the LIKE pattern {_show(node, 40)} ends in the escape character \\ "
            "(write \\\\ for a backslash)"
        )
