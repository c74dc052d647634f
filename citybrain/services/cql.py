"""CQL2 filters (OGC API – Features Part 3) as SQL conditions on a layer's table.

The ``cql2`` package parses and validates a filter (text or JSON) into CQL2-JSON; this module
translates that tree into a ``psycopg.sql`` condition: properties become ``sql.Identifier`` of
the layer's queryables only (its exposed properties, ``id`` and ``geometry``: personal columns
are out of reach), every value a bound parameter. Types are checked against the columns' own
(a text property compared with a number is a 400 saying so, not a database error).

Times: ``TIMESTAMP('…')`` is UTC as CQL2 defines it (the parser reads a zone-less one as UTC);
a ``DATE('…')``, a date in ``INTERVAL(…)``, and a plain string compared with a time property
follow the API's one time rule (services.window: no zone means CITYBRAIN_TIMEZONE), a date
being its whole local day. Geometries (WKT, GeoJSON, ``BBOX``) are in ``filter-crs``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import cql2
import shapely
import shapely.geometry
from psycopg import sql
from psycopg.sql import Composable

from citybrain.errors import InvalidInput
from citybrain.services.refcrs import CRS84, RefCrs, to_storage
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
        if lang == "cql2-text":
            _bounded(_text_depth(text))
            expr = cql2.parse_text(text)
        else:
            _bounded(_depth(json.loads(text)) // 2)
            expr = cql2.parse_json(text)
        # (No expr.validate(): its JSON-schema check is exponential in nesting, and the
        # translation refuses whatever it does not know, with its reason.)
        tree = expr.to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError, RecursionError) as exc:
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
    kind: str  # string, integer, number, boolean, datetime, date, geometry, null
    span: tuple[Composable, Composable] | None = None  # a time's (first, last) instant
    raw: Any = None  # a literal's own value


@dataclass
class Translator:
    """Translates one filter for one layer: ``queryables`` maps a name to its column kind."""

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

    # --- predicates -----------------------------------------------------------------------

    def predicate(self, node: Any) -> sql.Composable:
        if isinstance(node, bool):
            return sql.SQL("TRUE" if node else "FALSE")
        if isinstance(node, dict) and "property" in node:
            value = self.value(node)
            if value.kind != "boolean":
                raise InvalidInput(f"filter: {node['property']} is not a boolean condition")
            return value.sql
        if not isinstance(node, dict) or "op" not in node:
            raise InvalidInput(f"filter: {json.dumps(node, ensure_ascii=False)} is no condition")
        op, args = node["op"].lower(), node.get("args", [])
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
            return sql.SQL("({} LIKE {})").format(a.sql, b.sql)
        if op == "between":
            a, low, high = (self.value(x) for x in args)
            return sql.SQL("({} AND {})").format(
                self.compare(">=", a, low), self.compare("<=", a, high)
            )
        if op == "in":
            a = self.value(args[0])
            if len(args[1]) > MAX_LIST:
                raise InvalidInput(f"filter: IN lists {len(args[1])} values; at most {MAX_LIST}")
            return sql.SQL("({})").format(
                sql.SQL(" OR ").join(self.compare("=", a, self.value(v)) for v in args[1])
            )
        if op == "isnull":
            return sql.SQL("({} IS NULL)").format(self.value(args[0]).sql)
        if op in SPATIAL:
            g, h = (self.geometry(x) for x in args)
            return sql.SQL("{}({}, {})").format(sql.SQL(SPATIAL[op]), g, h)
        if op in TEMPORAL:
            (a0, a1), (b0, b1) = (self.span(x) for x in args)
            return sql.SQL("(" + TEMPORAL[op] + ")").format(a0=a0, a1=a1, b0=b0, b1=b1)
        raise InvalidInput(
            f"filter: {node['op']!r} is not supported here; conditions: and, or, not, "
            "comparisons, like, between, in, is null, s_* and t_* functions, casei"
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
        if not (a.kind == b.kind or {a.kind, b.kind} <= NUMBERS or "null" in (a.kind, b.kind)):
            raise InvalidInput(
                f"filter: cannot compare a {a.kind} with a {b.kind} (a string is quoted: "
                "category = '治安'; a number is not: severity >= 3)"
            )
        return sql.SQL("({} {} {})").format(a.sql, sql.SQL(COMPARE[op]), b.sql)

    @staticmethod
    def expect(value: Typed, kinds: set[str], what: str) -> None:
        if value.kind not in kinds:
            raise InvalidInput(
                f"filter: {what} takes a {' or '.join(sorted(kinds))}, not a {value.kind}"
            )

    # --- values ---------------------------------------------------------------------------

    def value(self, node: Any) -> Typed:
        if node is None:
            return Typed(sql.NULL, "null")
        if isinstance(node, bool):
            return Typed(self.bind(node), "boolean")
        if isinstance(node, int | float):
            number = int(node) if float(node).is_integer() and abs(node) < 2**63 else node
            return Typed(self.bind(number), "integer" if isinstance(number, int) else "number")
        if isinstance(node, str):
            return Typed(self.bind(node), "string", raw=node)
        if isinstance(node, dict):
            if "property" in node:
                return self.property(node["property"])
            if "timestamp" in node or "date" in node or "interval" in node:
                return self.time_literal(node)
            if node.get("op", "").lower() == "casei":
                inner = self.value(node["args"][0])
                self.expect(inner, {"string"}, "CASEI")
                return Typed(sql.SQL("lower({})").format(inner.sql), "string")
            if "op" in node:
                raise InvalidInput(f"filter: the function {node['op']!r} is not supported here")
            return Typed(self.geometry(node), "geometry")
        raise InvalidInput(f"filter: {json.dumps(node, ensure_ascii=False)} is not a value here")

    def property(self, name: str) -> Typed:
        kind = self.queryables.get(name)
        if kind is None:
            raise InvalidInput(
                f"filter: {name!r} is not a queryable of this collection; queryables: "
                f"{', '.join(self.queryables)} (see its /queryables)"
            )
        column = (
            sql.SQL("s.geom")
            if kind == "geometry"
            else sql.SQL("s.{}").format(sql.Identifier(name))
        )
        return Typed(column, kind)

    def geometry(self, node: Any) -> sql.Composable:
        if isinstance(node, dict) and "property" in node:
            value = self.property(node["property"])
            self.expect(value, {"geometry"}, "a spatial function")
            return value.sql
        if isinstance(node, dict) and "bbox" in node:
            box = [float(v) for v in node["bbox"]]
            box = box if len(box) == 4 else [box[0], box[1], box[3], box[4]]
            shape = shapely.box(*box)
        else:
            try:
                shape = shapely.geometry.shape(node)
            except Exception as exc:  # shapely's errors on a malformed geometry
                raise InvalidInput(f"filter: not a geometry ({exc})") from None
        if not shape.is_valid:
            raise InvalidInput(f"filter: invalid geometry ({shapely.is_valid_reason(shape)})")
        literal = sql.SQL("ST_GeomFromWKB({})").format(self.bind(shapely.to_wkb(shape)))
        return to_storage(literal, self.crs)

    def time_literal(self, node: dict[str, Any]) -> Typed:
        if "timestamp" in node:
            t = self.bind(instant(node["timestamp"], self.tz, "filter TIMESTAMP"))
            return Typed(t, "datetime", (t, t))
        if "date" in node:
            first, last = self.day(node["date"])
            return Typed(first, "date", (first, last))
        ends: list[Composable] = []
        for i, end in enumerate(node["interval"]):
            if isinstance(end, dict):
                end = end.get("timestamp") or end.get("date")
            if end in ("..", None):
                ends.append(
                    sql.SQL("'-infinity'::timestamptz" if i == 0 else "'infinity'::timestamptz")
                )
            elif len(end) == 10:
                ends.append(self.day(end)[i])
            else:
                ends.append(self.bind(instant(end, self.tz, "filter INTERVAL")))
        return Typed(ends[0], "interval", (ends[0], ends[1]))

    def day(self, text: str) -> tuple[sql.Composable, sql.Composable]:
        """A local calendar day as its first and last microsecond."""
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"filter: {text!r} is not a date (YYYY-MM-DD)") from None
        start = datetime.combine(d, time(), self.tz)
        end = datetime.combine(d + timedelta(days=1), time(), self.tz) - timedelta(microseconds=1)
        return self.bind(start), self.bind(end)

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
                return self.day(value.raw)
            t = self.bind(instant(value.raw, self.tz, "filter"))
            return t, t
        raise InvalidInput(f"filter: a {value.kind} is not a time")
