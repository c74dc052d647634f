"""Writing prepared rows: matched by their natural key, inserted, updated or left alone, in the
caller's transaction (all or nothing), with every value derived from them made current.

The rows go to a staging table first (COPY), and SQL decides for each whether it is new,
changed or the same as the row already there (a geometry within 1 mm counts as the same: an
export read back through GCJ-02 is the same place). Only changed columns the source gives are
written: a value the source is silent on (a default) fills new rows and never overwrites.
A load whose keys are all new (a first import of work orders) is copied straight into the
table. Triggers keep tile versions, the heat index's change stamps and cells current; the
big screens hear of the import once.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

import orjson
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from citybrain.importer import cases
from citybrain.importer.prepare import Prepared
from citybrain.ingest import (
    MicroGridIndex,
    copy_frame,
    load_points,
    point_ewkb,
    rebuild_coverage,
    relocate_points,
    wants_bulk_mode,
)
from citybrain.layers import table_columns

SCHEMA = "citybrain"
STAGE = "import_stage"
SAME_PLACE_DEG = 1e-8  # about 1 mm here
# Source columns that are not table columns: they were turned into others.
NOT_STORED = {
    "row",
    "parent",
    "grid",
    "team",
    "lon",
    "lat",
    "easting",
    "northing",
    "wkt",
    "address",
}
FAST_PATH_ROWS = 10_000
OWN_PREFIX = "citybrain-"  # what exports call incidents without an outside number


def own_prefix(conn: psycopg.Connection) -> str:
    """``citybrain-<county>-``: the name an export gives an incident citybrain made itself,
    before its id. Ids mean something only in the county that numbered them (a new seed
    numbers them again), so the name carries that county's version (meta.county_version)."""
    row = conn.execute("SELECT value FROM citybrain.meta WHERE key = 'county_version'").fetchone()
    tag = row[0].replace("-", "")[:12] if row else "0"
    return f"{OWN_PREFIX}{tag}-"


@dataclass
class Outcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def rows_frame(conn: psycopg.Connection, prep: Prepared) -> tuple[pd.DataFrame, list[str]]:
    """The table's columns for each prepared row (without geometry), and those to compare."""
    table = prep.layer.table
    have = set(table_columns(conn, table))
    frame = prep.frame.drop(columns=[c for c in prep.frame if c in NOT_STORED or c not in have])
    frame = frame.drop(columns=[c for c in ("geom", "import_id", "id") if c in frame])
    if "attributes" in have:  # (an incident's are its case file's: importer.cases)
        frame["attributes"] = prep.attributes.to_numpy()
    for column in frame:
        if frame[column].dtype == object and frame[column].map(_is_list).any():
            frame[column] = frame[column].map(_sql_value, na_action="ignore")
    compare = [
        c
        for c in frame.columns
        if c != prep.layer.key
        and (c in prep.given or c in ("attributes", "derived", "location_quality"))
    ]
    return frame, compare


def _is_list(value) -> bool:
    return isinstance(value, list)


def _sql_value(value):
    """Lists as PostgreSQL text: members (dicts) as JSON, skills as an array literal."""
    if value and isinstance(value[0], dict):
        return orjson.dumps(value).decode()
    return "{" + ",".join('"' + str(v).replace('"', '\\"') + '"' for v in value) + "}"


def write(
    conn: psycopg.Connection,
    prep: Prepared,
    import_id: int | None,
    actor: str,
    on_chunk=None,
) -> Outcome:
    """Classify and (unless ``import_id`` is None: a dry run) write ``prep``'s rows."""
    layer = prep.layer
    frame, compare = rows_frame(conn, prep)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('citybrain.import.' || %s))", [layer.table])
    case_columns = cases.stage(conn, prep)
    prefix = own_prefix(conn) if case_columns else ""
    if import_id is not None and _all_new(conn, prep, frame):
        inserted = _copy_new(conn, prep, frame, import_id, on_chunk)
        cases.write(conn, case_columns, prefix)
        return Outcome(inserted=inserted)
    _stage(conn, prep, frame, on_chunk)
    outcome = _classify(conn, prep, compare)
    if case_columns:  # the same public facts, another case file: updated all the same
        moved = len(cases.changed(conn, case_columns, prefix) & _unchanged(conn, prep, compare))
        outcome = Outcome(outcome.inserted, outcome.updated + moved, outcome.unchanged - moved)
    if import_id is None:
        return outcome
    with _quiet(conn, layer.table):
        _update(conn, prep, compare, import_id, actor)
        if layer.geometry == "point":
            _copy_staged_new(conn, prep, frame, import_id, on_chunk)
        else:
            _insert(conn, prep, import_id)
    cases.write(conn, case_columns, prefix)
    return outcome


def _unchanged(conn, prep: Prepared, compare: list[str]) -> set[int]:
    """The staged rows whose row in the table is the same."""
    rows = conn.execute(
        sql.SQL(
            "SELECT s.src_row FROM pg_temp.{stage} s JOIN {table} t ON {join} WHERE {same}"
        ).format(
            stage=sql.Identifier(STAGE),
            table=sql.Identifier(SCHEMA, prep.layer.table),
            join=_join(prep),
            same=_same(compare),
        )
    ).fetchall()
    return {r[0] for r in rows}


def _copy_staged_new(conn, prep: Prepared, frame: pd.DataFrame, import_id: int, on_chunk) -> None:
    """The staged points no row matched: loaded with their cells and micro-grids."""
    new = {
        r[0]
        for r in conn.execute(
            sql.SQL("SELECT src_row FROM pg_temp.{} WHERE match_id IS NULL").format(
                sql.Identifier(STAGE)
            )
        )
    }
    if not new:
        return
    keep = prep.frame["row"].isin(new).to_numpy()
    subset = prep.subset(keep)
    _copy_new(conn, subset, frame[keep].reset_index(drop=True), import_id, on_chunk)


def _all_new(conn: psycopg.Connection, prep: Prepared, frame: pd.DataFrame) -> bool:
    """A big load none of whose keys the table has yet (checked through the key's index)."""
    if len(frame) < FAST_PATH_ROWS or prep.layer.geometry != "point":
        return False
    key = prep.layer.key
    if frame[key].astype(str).str.startswith(OWN_PREFIX).any():
        return False
    keyed = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {} IS NOT NULL)").format(
            sql.Identifier(SCHEMA, prep.layer.table), sql.Identifier(key)
        )
    ).fetchone()[0]
    if not keyed:  # e.g. the first work orders into a county: nothing to look up
        return True
    taken = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {} = ANY(%s))").format(
            sql.Identifier(SCHEMA, prep.layer.table), sql.Identifier(key)
        ),
        [frame[key].astype(str).tolist()],
    ).fetchone()[0]
    return not taken


def _with_geometry(prep: Prepared, frame: pd.DataFrame) -> pd.DataFrame:
    geoms = prep.geoms.astype(object)
    if prep.layer.geometry == "point":
        xy = shapely.get_coordinates(geoms)
        return frame.assign(geom=point_ewkb(xy[:, 0], xy[:, 1]))
    ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    return frame.assign(geom=ewkb)


def _copy_new(conn, prep: Prepared, frame: pd.DataFrame, import_id: int, on_chunk) -> int:
    xy = shapely.get_coordinates(prep.geoms.astype(object))
    rows = frame.assign(lon=xy[:, 0], lat=xy[:, 1], import_id=import_id)
    bulk = wants_bulk_mode(conn, prep.layer.table, len(rows))
    with _quiet(conn, prep.layer.table) if not bulk else nullcontext():
        return load_points(conn, prep.layer.table, rows, on_chunk=on_chunk, bulk=bulk)


def _stage(conn, prep: Prepared, frame: pd.DataFrame, on_chunk) -> None:
    """The rows in a temporary table, with their geometry (a point's cells and micro-grid
    are computed only for the rows that turn out to be new)."""
    staged = _with_geometry(prep, frame).assign(src_row=prep.frame["row"].to_numpy())
    columns = [c for c in staged.columns if c != "src_row"]
    conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(STAGE)))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            sql.Identifier(STAGE),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.Identifier(SCHEMA, prep.layer.table),
        )
    )
    conn.execute(
        sql.SQL(
            "ALTER TABLE pg_temp.{} ADD COLUMN src_row integer, ADD COLUMN match_id bigint"
        ).format(sql.Identifier(STAGE))
    )
    copy_frame(conn, STAGE, staged, on_chunk=on_chunk, schema="pg_temp")
    _match(conn, prep)


def _match(conn, prep: Prepared) -> None:
    """Each staged row's counterpart in the table (``match_id``): the row with its key, or, for
    an incident named ``citybrain-<id>`` by an export, citybrain's own incident ``id``."""
    table = sql.Identifier(SCHEMA, prep.layer.table)
    key = sql.Identifier(prep.layer.key)
    stage = sql.Identifier(STAGE)
    conn.execute(
        sql.SQL("UPDATE pg_temp.{} s SET match_id = t.id FROM {} t WHERE t.{} = s.{}").format(
            stage, table, key, key
        )
    )
    if prep.layer.table == "incidents":
        prefix = own_prefix(conn)  # names from another county (or seed) match nothing here
        conn.execute(
            sql.SQL(
                "UPDATE pg_temp.{} s SET match_id = t.id FROM citybrain.incidents t "
                "WHERE s.match_id IS NULL AND starts_with(s.external_id, %(prefix)s) "
                "AND substr(s.external_id, %(start)s) ~ '^[0-9]{{1,18}}$' "
                "AND t.external_id IS NULL AND t.id = substr(s.external_id, %(start)s)::bigint"
            ).format(stage),
            {"prefix": prefix, "start": len(prefix) + 1},
        )
    conn.execute(sql.SQL("CREATE INDEX ON pg_temp.{} (match_id)").format(stage))
    conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(stage))


def _same(compare: list[str]) -> sql.Composable:
    """The row in the table (t) equals the staged row (s): its compared columns, and its
    geometry to within a millimetre; and it came from an import already (a row citybrain
    made that equals the file's becomes the file's)."""
    cols = sql.SQL(", ")
    parts: list[sql.Composable] = [sql.SQL("t.import_id IS NOT NULL")]
    if compare:
        parts.append(
            sql.SQL("({}) IS NOT DISTINCT FROM ({})").format(
                cols.join(sql.Identifier("t", c) for c in compare),
                cols.join(sql.Identifier("s", c) for c in compare),
            )
        )
    parts.append(
        sql.SQL("(t.geom = s.geom OR ST_HausdorffDistance(t.geom, s.geom) < {})").format(
            sql.Literal(SAME_PLACE_DEG)
        )
    )
    return sql.SQL(" AND ").join(parts)


def _join(prep: Prepared) -> sql.Composable:
    return sql.SQL("t.id = s.match_id")


def _classify(conn, prep: Prepared, compare: list[str]) -> Outcome:
    row = conn.execute(
        sql.SQL(
            "SELECT count(*) FILTER (WHERE t.id IS NULL), "
            "count(*) FILTER (WHERE t.id IS NOT NULL AND NOT ({same})), "
            "count(*) FILTER (WHERE t.id IS NOT NULL AND ({same})) "
            "FROM pg_temp.{stage} s LEFT JOIN {table} t ON {join}"
        ).format(
            same=_same(compare),
            stage=sql.Identifier(STAGE),
            table=sql.Identifier(SCHEMA, prep.layer.table),
            join=_join(prep),
        )
    ).fetchone()
    return Outcome(inserted=row[0], updated=row[1], unchanged=row[2])


def _update(conn, prep: Prepared, compare: list[str], import_id: int, actor: str) -> None:
    assigned = [*compare, "geom"]
    if prep.layer.table == "incidents":
        assigned.append("updated_at")
    sets = sql.SQL(", ").join(
        sql.SQL("{} = s.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in assigned
    )
    table = sql.Identifier(SCHEMA, prep.layer.table)
    old = sql.SQL(
        "SELECT t.id, {status} FROM {table} t JOIN pg_temp.{stage} s ON {join} "
        "WHERE NOT ({same}) FOR UPDATE OF t"
    ).format(
        status=sql.SQL("t.status") if prep.layer.table == "incidents" else sql.SQL("NULL::text"),
        table=table,
        stage=sql.Identifier(STAGE),
        join=_join(prep),
        same=_same(compare),
    )
    update = sql.SQL(
        "UPDATE {table} t SET {sets}, import_id = %(import)s FROM pg_temp.{stage} s, old "
        "WHERE t.id = old.id AND {join} RETURNING t.id, {status}"
    ).format(
        table=table,
        sets=sets,
        stage=sql.Identifier(STAGE),
        join=_join(prep),
        status=sql.SQL("t.status") if prep.layer.table == "incidents" else sql.SQL("NULL::text"),
    )
    if prep.layer.table == "incidents":
        # A re-exported work order that moved on in the hotline's workflow: the audit trail
        # records the step, by the import.
        statement = sql.SQL(
            "WITH old(id, status) AS ({old}), new(id, status) AS ({update}) "
            "INSERT INTO citybrain.incident_events "
            "(incident_id, actor, role, action, from_status, to_status, note) "
            "SELECT new.id, %(actor)s, 'admin', 'import', old.status, new.status, %(note)s "
            "FROM new JOIN old USING (id) WHERE new.status IS DISTINCT FROM old.status"
        ).format(old=old, update=update)
    else:
        statement = sql.SQL("WITH old(id, status) AS ({old}) {update}").format(
            old=old, update=update
        )
    conn.execute(statement, {"import": import_id, "actor": actor, "note": f"import {import_id}"})


def _insert(conn, prep: Prepared, import_id: int) -> None:
    """The staged polygons no row matched."""
    columns = [*(c for c in _staged_columns(conn)), "import_id"]
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    values = sql.SQL(", ").join(
        sql.Placeholder("import") if c == "import_id" else sql.Identifier("s", c) for c in columns
    )
    statement = sql.SQL(
        "INSERT INTO {table} ({names}) SELECT {values} FROM pg_temp.{stage} s "
        "WHERE s.match_id IS NULL ORDER BY s.src_row"
    ).format(
        table=sql.Identifier(SCHEMA, prep.layer.table),
        names=names,
        values=values,
        stage=sql.Identifier(STAGE),
    )
    conn.execute(statement, {"import": import_id})


def _staged_columns(conn) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attname NOT IN ('src_row', 'match_id') ORDER BY attnum",
            [f"pg_temp.{STAGE}"],
        )
    ]


class _quiet:
    """While an import writes incidents, the live map is told nothing row by row; it hears
    of the import once, when it is done (``announce``)."""

    def __init__(self, conn: psycopg.Connection, table: str):
        self.conn, self.table = conn, table

    def __enter__(self):
        if self.table == "incidents":
            self.conn.execute("SELECT set_config('citybrain.announce', 'off', true)")
        return self

    def __exit__(self, *exc):
        if self.table == "incidents" and exc[0] is None:
            self.conn.execute("SELECT set_config('citybrain.announce', 'on', true)")
        return False


def announce(conn: psycopg.Connection, import_id: int) -> None:
    """One bulk event for the incidents an import wrote (on commit)."""
    conn.execute(
        "SELECT citybrain.announce_incidents_bulk('import', count(*), ST_Extent(geom)) "
        "FROM citybrain.incidents WHERE import_id = %s HAVING count(*) > 0",
        [import_id],
    )


def after_micro_grids(conn: psycopg.Connection) -> None:
    """Micro-grids changed: the H3 coverage again, and every point in the micro-grid it now
    lies in."""
    index = MicroGridIndex(conn)
    rebuild_coverage(conn, index)
    relocate_points(conn, index)


def record(conn, layer: str, source, options: dict, actor: str, started: datetime) -> int:
    return conn.execute(
        "INSERT INTO citybrain.imports (layer, source_name, source_sha256, options, actor, "
        "started_at, inserted, updated, unchanged, rejected, repaired) "
        "VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0, 0, 0) RETURNING id",
        [layer, source.name, source.sha256, orjson.dumps(options).decode(), actor, started],
    ).fetchone()[0]


def finish(conn, import_id: int, counts: dict[str, int]) -> None:
    conn.execute(
        "UPDATE citybrain.imports SET finished_at = clock_timestamp(), inserted = %(inserted)s, "
        "updated = %(updated)s, unchanged = %(unchanged)s, rejected = %(rejected)s, "
        "repaired = %(repaired)s WHERE id = %(id)s",
        {**counts, "id": import_id},
    )
