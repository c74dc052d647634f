"""Bulk loading into PostGIS with COPY: the one path by which many rows enter citybrain.

Point rows get their H3 cells and ``micro_grid_id`` here, in bulk, by the same rules as the
database's triggers (``citybrain.h3_latlng_to_cells``; a point on a shared edge belongs to the
micro-grid with the lowest id). The triggers compute them for every other writer; for these
rows they are told not to (``cells_given``) or find them filled (``micro_grid_id``): h3ronpy
here takes ~2.5 us an incident (eight cells), PL/pgSQL ~115 us.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

import h3
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from h3ronpy.vector import coordinates_to_cells
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from citybrain.db.models import POINT_TABLES
from citybrain.domain import COVERAGE_RES, HEAT_RESOLUTIONS, POINT_H3_RES
from citybrain.layers import table_columns, tiled

SCHEMA = "citybrain"
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def h3_cells(lon: np.ndarray, lat: np.ndarray, res: int = POINT_H3_RES) -> np.ndarray:
    """H3 cells (as signed 64-bit integers, as stored) of WGS84 points: h3ronpy's vectorised
    latLngToCell (the H3 library compiled, 3x h3-py's per-point calls; the same cells)."""
    if not len(lon):
        return np.empty(0, dtype=np.int64)
    cells = coordinates_to_cells(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), res)
    out = np.asarray(cells.to_numpy(), dtype=np.uint64)
    return out.view(np.int64)  # H3 cells fit in 63 bits: the view is the same number


class MicroGridIndex:
    """The micro-grids of the database in an R-tree, to locate many points at once."""

    def __init__(self, conn: psycopg.Connection):
        rows = conn.execute(
            "SELECT id, ST_AsBinary(geom) FROM citybrain.micro_grids ORDER BY id"
        ).fetchall()
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.tree = shapely.STRtree(shapely.from_wkb([bytes(r[1]) for r in rows]))

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The micro-grid id of each point (lowest id on shared edges), or -1 outside all."""
        pts = shapely.points(lon, lat)
        point_idx, tree_idx = self.tree.query(pts, predicate="intersects")
        out = np.full(len(pts), -1, dtype=np.int64)
        if len(point_idx):
            ids = self.ids[tree_idx]
            order = np.lexsort((ids, point_idx))
            point_idx, ids = point_idx[order], ids[order]
            first = np.r_[True, point_idx[1:] != point_idx[:-1]]
            out[point_idx[first]] = ids[first]
        return out


_US_PER_DAY = 86_400_000_000
_TIME_OF_DAY = pa.array(
    [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], pa.string()
)


def timestamp_text(values: pd.Series) -> pa.Array:
    """UTC timestamps as ISO 8601 text, built from lookup tables: the days of a batch are few
    and a day has 86,400 seconds, so this is ~50x faster than formatting each value."""
    stamps = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    valid = ~np.isnat(stamps)
    us = np.where(valid, stamps.view(np.int64), 0)
    day, in_day = np.divmod(us, _US_PER_DAY)
    days, which = np.unique(day, return_inverse=True)
    day_text = pa.array(np.datetime_as_string(days.astype("datetime64[D]")), pa.string())
    micro = pc.utf8_lpad(pc.cast(pa.array(in_day % 1_000_000), pa.string()), 6, "0")
    text = pc.binary_join_element_wise(
        pc.take(day_text, pa.array(which)),
        "T",
        pc.take(_TIME_OF_DAY, pa.array(in_day // 1_000_000)),
        ".",
        micro,
        "Z",
        "",
    )
    return pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))


def _csv_table(frame: pd.DataFrame) -> pa.Table:
    columns = {
        col: timestamp_text(frame[col])
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype)
        else pa.array(frame[col], from_pandas=True)
        for col in frame.columns
    }
    return pa.table(columns)


def point_ewkb(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Hex EWKB of WGS84 points, as PostGIS reads it (built in bulk: 4x faster than shapely)."""
    rec = np.empty(
        len(lon),
        dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")],
    )
    rec["order"] = 1  # little-endian
    rec["type"] = 0x20000001  # Point, with SRID
    rec["srid"] = 4326
    rec["x"] = lon
    rec["y"] = lat
    return np.frombuffer(rec.tobytes().hex().upper().encode(), dtype="S50").astype("U50")


def copy_frame(
    conn: psycopg.Connection,
    table: str,
    frame: pd.DataFrame,
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    chunk_rows: int = 100_000,
    on_chunk: Callable[[int], None] | None = None,
    schema: str = SCHEMA,
) -> int:
    """COPY a DataFrame into ``<schema>.<table>`` (``citybrain``; ``pg_temp`` for a staging
    table), ``chunk_rows`` at a time.

    ``prepare`` turns each chunk into the table's columns (computing keys, say). A writer
    thread sends each chunk while the next one is prepared, so the client's work overlaps the
    server's. Values go through PostgreSQL's CSV input (written by Arrow, in C): arrays as
    ``{a,b}`` literals, JSON as text, geometry as hex EWKB, timestamps as ISO 8601; a missing
    value is an unquoted empty field (NULL), an empty string a quoted one.
    """
    prepare = prepare or (lambda chunk: chunk)
    chunks = (prepare(frame.iloc[i : i + chunk_rows]) for i in range(0, len(frame), chunk_rows))
    first = next(chunks, None)
    if first is None:
        return 0
    stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(schema),
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in first.columns),
    )
    with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
        for chunk in itertools.chain([first], chunks):
            buf = io.BytesIO()
            pacsv.write_csv(_csv_table(chunk), buf, _CSV_OPTIONS)
            copy.write(buf.getvalue())
            if on_chunk:
                on_chunk(len(chunk))
    return len(frame)


def point_columns(
    lon: np.ndarray, lat: np.ndarray, index: MicroGridIndex | None, table: str = ""
) -> dict[str, np.ndarray | pd.Series]:
    """``geom`` (hex EWKB), ``h3`` and ``micro_grid_id`` columns for WGS84 points, and for
    incidents their cell at every heatmap resolution (``h3_5`` .. ``h3_11``)."""
    cols: dict[str, np.ndarray | pd.Series] = {
        "geom": point_ewkb(lon, lat),
        "h3": h3_cells(lon, lat),
    }
    if table == "incidents":
        cols.update({f"h3_{r}": h3_cells(lon, lat, r) for r in HEAT_RESOLUTIONS})
    if index is not None:
        mg = index.locate(lon, lat)
        cols["micro_grid_id"] = pd.array(np.where(mg < 0, None, mg), dtype="Int64")
    return cols


def load_points(
    conn: psycopg.Connection,
    table: str,
    frame: pd.DataFrame,
    index: MicroGridIndex | None = None,
    columns: Sequence[str] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    bulk: bool | None = None,
) -> int:
    """Load point rows: ``frame`` holds ``lon``/``lat`` (WGS84) and the table's other columns.
    The cells and micro-grid are written where the table has them (a layer of a county's own
    may have neither: make_layer_table does not add them).

    ``bulk``: load in :func:`bulk_mode` (default: when the batch is big and at least as large
    as the table)."""
    have = set(table_columns(conn, table))
    if "micro_grid_id" in have:
        index = index or MicroGridIndex(conn)
    keep = [c for c in (columns or frame.columns) if c not in ("lon", "lat")]

    def prepare(chunk: pd.DataFrame) -> pd.DataFrame:
        lon = chunk["lon"].to_numpy(dtype=float)
        lat = chunk["lat"].to_numpy(dtype=float)
        derived = point_columns(lon, lat, index, table)
        return chunk[keep].assign(**{k: v for k, v in derived.items() if k in have})

    if bulk is None:
        bulk = wants_bulk_mode(conn, table, len(frame))
    with conn.transaction(), cells_given(conn), bulk_mode(conn, table) if bulk else nullcontext():
        return copy_frame(conn, table, frame, prepare=prepare, on_chunk=on_chunk)


@contextmanager
def cells_given(conn: psycopg.Connection) -> Iterator[None]:
    """Within the caller's transaction, tell the cell trigger that the point rows written
    meanwhile carry cells computed with h3 (``point_columns``); other writes after it are
    computed again. An error rolls the setting back with the transaction."""
    conn.execute("SELECT set_config('citybrain.cells_given', 'on', true)")
    yield
    conn.execute("SELECT set_config('citybrain.cells_given', 'off', true)")


def _derived(conn: psycopg.Connection, table: str) -> tuple[list[str], list[sql.Composable]]:
    """The insert triggers that keep data derived from ``table`` row by row, and the
    statements that bring that data up to date at once."""
    triggers: list[str] = []
    catch_up: list[sql.Composable] = []
    if tiled(conn, table):
        triggers.append(f"{table}_tiles_insert")
        catch_up.append(sql.SQL("SELECT citybrain.tiles_bump_table({})").format(sql.Literal(table)))
    if table == "incidents":  # one announcement for the load, as for any bulk write
        triggers.append("incidents_announce_insert")
        catch_up.append(
            sql.SQL(
                "SELECT citybrain.announce_incidents_bulk('insert', count(*), ST_Extent(geom)) "
                "FROM citybrain.incidents WHERE changed = pg_current_xact_id() "
                "HAVING count(*) > 0"
            )
        )
    return triggers, catch_up


@contextmanager
def derived_paused(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Insert many rows into ``table`` without its per-statement derivations (tile versions,
    live-map announcements), then catch them up once: every tile of the table changes
    version, and the big screens hear of the load as one bulk insert."""
    triggers, catch_up = _derived(conn, table)
    ident = sql.Identifier(SCHEMA, table)
    for name in triggers:
        conn.execute(
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(ident, sql.Identifier(name))
        )
    yield
    for name in triggers:
        conn.execute(
            sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(ident, sql.Identifier(name))
        )
    for statement in catch_up:
        conn.execute(statement)


@contextmanager
def bulk_mode(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Load a big batch the way PostgreSQL's manual recommends: drop the table's foreign keys
    and secondary indexes, load, then rebuild them in one pass each (several times faster
    than checking and indexing row by row). Their definitions are read from the catalog and
    restored exactly; data derived from the table by triggers is caught up once at the end
    (``derived_paused``). The caller's transaction makes it all-or-nothing.
    """
    qualified = f"{SCHEMA}.{table}"
    fks = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [qualified],
    ).fetchall()
    indexes = conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT i.indisunique "
        "ORDER BY c.relname",
        [qualified],
    ).fetchall()
    ident = sql.Identifier(SCHEMA, table)
    for name, _ in fks:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, sql.Identifier(name))
        )
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(SCHEMA, name)))
    with derived_paused(conn, table):
        yield
    for _, definition in indexes:
        conn.execute(definition)  # catalog text, not user input
    for name, definition in fks:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                ident, sql.Identifier(name), sql.SQL(definition)
            )
        )


def wants_bulk_mode(conn: psycopg.Connection, table: str, rows: int) -> bool:
    """Rebuilding pays off when the batch is big and at least as large as the table; it
    alters the table, which only its owner may (an import through the API, as the importer
    role, loads row by row)."""
    estimate, owns = conn.execute(
        "SELECT greatest(reltuples, 0)::bigint, pg_has_role(current_user, relowner, 'USAGE') "
        "FROM pg_class WHERE oid = %s::regclass",
        [f"{SCHEMA}.{table}"],
    ).fetchone()
    return owns and rows >= 50_000 and rows >= estimate


def reset_sequence(conn: psycopg.Connection, table: str) -> None:
    """After loading explicit ids, make the id sequence continue after the largest."""
    conn.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence({}, 'id'), coalesce(max(id), 0) + 1, false) "
            "FROM {}.{}"
        ).format(sql.Literal(f"{SCHEMA}.{table}"), sql.Identifier(SCHEMA), sql.Identifier(table))
    )


def coverage_cells(county) -> pd.DataFrame:
    """H3 cells at ``COVERAGE_RES`` whose centre lies in ``county`` (WGS84), with centres."""
    cells = np.array(h3.geo_to_cells(county, COVERAGE_RES))
    lat, lon = np.array([h3.cell_to_latlng(c) for c in cells]).reshape(-1, 2).T
    ids = np.array([int(c, 16) for c in cells], dtype=np.uint64).view(np.int64)
    return pd.DataFrame({"h3": ids, "lon": lon, "lat": lat})


def rebuild_coverage(conn: psycopg.Connection, index: MicroGridIndex | None = None) -> int:
    """``h3_coverage`` again from the micro-grids as they are (after they were loaded or
    changed): every resolution-11 cell whose centre lies in the county, with its micro-grid."""
    index = index or MicroGridIndex(conn)
    conn.execute("DELETE FROM citybrain.h3_coverage")
    if not len(index.ids):
        return 0
    towns = conn.execute("SELECT ST_AsBinary(ST_Union(geom)) FROM citybrain.towns").fetchone()[0]
    outline = shapely.from_wkb(bytes(towns)) if towns else shapely.union_all(index.tree.geometries)
    cov = coverage_cells(outline)
    mg = index.locate(cov["lon"].to_numpy(), cov["lat"].to_numpy())
    cov = cov.assign(micro_grid_id=mg)[mg >= 0]
    return copy_frame(conn, "h3_coverage", cov[["h3", "micro_grid_id"]])


def relocate_points(conn: psycopg.Connection, index: MicroGridIndex) -> dict[str, int]:
    """After micro-grids changed: give every point the micro-grid it now lies in (by the
    triggers' rule, located in bulk); returns the rows that moved, per table."""
    moved: dict[str, int] = {}
    for table in POINT_TABLES:
        rows = conn.execute(
            sql.SQL(
                "SELECT id, ST_X(geom), ST_Y(geom), coalesce(micro_grid_id, -1) FROM {}"
            ).format(sql.Identifier(SCHEMA, table))
        ).fetchall()
        if not rows:
            moved[table] = 0
            continue
        data = np.array(rows, dtype=float)
        now = index.locate(data[:, 1], data[:, 2])
        changed = now != data[:, 3].astype(np.int64)
        ids = data[changed, 0].astype(np.int64).tolist()
        new = [None if m < 0 else int(m) for m in now[changed]]
        if ids:
            conn.execute(
                sql.SQL(
                    "UPDATE {} t SET micro_grid_id = n.mg FROM unnest(%s::bigint[], %s::int[]) "
                    "AS n(id, mg) WHERE t.id = n.id"
                ).format(sql.Identifier(SCHEMA, table)),
                [ids, new],
            )
        moved[table] = len(ids)
    return moved
