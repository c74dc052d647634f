"""Incidents' case files, written beside their public facts: the columns of
``domain.CASE_FILE`` that a source gives (the description, the reporter, the file's own
columns) go to ``citybrain.case_files`` (migration 0019), one row per incident, matched as the
incidents are (by their key, or an export's ``citybrain-<county>-<id>`` by id).

Only what the source gives is written (a column it is silent on is never blanked); a row whose
public facts are unchanged but whose case file differs counts as updated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import psycopg
from psycopg import sql

from citybrain.domain import CASE_FILE
from citybrain.importer.prepare import Prepared
from citybrain.ingest import copy_frame

STAGE = "import_cases"


def columns(prep: Prepared) -> list[str]:
    """The case-file columns this import writes ([] for a layer without case files)."""
    if not prep.layer.case_file:
        return []
    return [c for c in CASE_FILE if c in prep.given or c == "attributes"]


def stage(conn: psycopg.Connection, prep: Prepared) -> list[str]:
    """The rows' case-file columns in a temporary table, by source row and key."""
    wanted = columns(prep)
    if not wanted:
        return []
    frame = pd.DataFrame(
        {
            "src_row": prep.frame["row"].to_numpy(),
            "external_id": prep.frame[prep.layer.key].astype(str).to_numpy(),
            **{c: prep.frame[c].to_numpy() for c in wanted if c != "attributes"},
        }
    )
    if "attributes" in wanted:
        frame["attributes"] = prep.attributes.to_numpy()
    cols = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in wanted)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(STAGE)))
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (src_row integer, external_id text, {}) ON COMMIT DROP"
        ).format(sql.Identifier(STAGE), cols)
    )
    copy_frame(conn, STAGE, frame, schema="pg_temp")
    return wanted


def _target(prefix: str) -> sql.Composable:
    """Each staged case's incident: by key, or by id for an export's own name."""
    return sql.SQL(
        "SELECT c.*, coalesce(k.id, o.id) AS incident_id FROM pg_temp.{stage} c "
        "LEFT JOIN citybrain.incidents k ON k.external_id = c.external_id "
        "LEFT JOIN citybrain.incidents o ON o.external_id IS NULL "
        "AND o.id = CASE WHEN starts_with(c.external_id, {prefix}) "  # (the cast only then)
        "AND substr(c.external_id, {start}) ~ '^[0-9]{{1,18}}$' "
        "THEN substr(c.external_id, {start})::bigint END"
    ).format(
        stage=sql.Identifier(STAGE),
        prefix=sql.Literal(prefix),
        start=sql.Literal(len(prefix) + 1),
    )


def _values(wanted: list[str], alias: str) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{}.{}::jsonb" if c == "attributes" else "{}.{}").format(
            sql.Identifier(alias), sql.Identifier(c)
        )
        for c in wanted
    )


def changed(conn: psycopg.Connection, wanted: list[str], prefix: str) -> set[int]:
    """Source rows whose incident exists and whose case file the import would change."""
    if not wanted:
        return set()
    rows = conn.execute(
        sql.SQL(
            "WITH c AS ({target}) SELECT c.src_row FROM c "
            "LEFT JOIN citybrain.case_files f ON f.incident_id = c.incident_id "
            "WHERE c.incident_id IS NOT NULL AND ({mine}) IS DISTINCT FROM ({theirs})"
        ).format(
            target=_target(prefix),
            mine=sql.SQL(", ").join(sql.Identifier("f", c) for c in wanted),
            theirs=_values(wanted, "c"),
        )
    ).fetchall()
    return {r[0] for r in rows}


def write(conn: psycopg.Connection, wanted: list[str], prefix: str) -> None:
    """Insert or update the staged case files of the incidents the import wrote."""
    if not wanted:
        return
    names = sql.SQL(", ").join(sql.Identifier(c) for c in wanted)
    with scope_given(conn):
        conn.execute(
            sql.SQL(
                "WITH c AS ({target}) INSERT INTO citybrain.case_files "
                "(incident_id, {names}, town_id, village_id, grid_id, team_id) "
                "SELECT c.incident_id, {values}, ch.town_id, ch.village_id, ch.grid_id, i.team_id "
                "FROM c JOIN citybrain.incidents i ON i.id = c.incident_id "
                "LEFT JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id "
                "ON CONFLICT (incident_id) DO UPDATE SET ({names}) = ROW({excluded})"
            ).format(
                target=_target(prefix),
                names=names,
                values=_values(wanted, "c"),
                excluded=sql.SQL(", ").join(sql.Identifier("excluded", c) for c in wanted),
            )
        )


@contextmanager
def scope_given(conn: psycopg.Connection) -> Iterator[None]:
    """Within the caller's transaction, tell the case files' trigger that the rows written
    meanwhile carry their scope, computed in their own statement (one join, not a lookup a
    row)."""
    conn.execute("SELECT set_config('citybrain.scope_given', 'on', true)")
    yield
    conn.execute("SELECT set_config('citybrain.scope_given', 'off', true)")


def load(conn: psycopg.Connection, cases: pd.DataFrame) -> int:
    """Case files of incidents just loaded (the seed): ``cases`` holds ``incident_id`` and the
    case-file columns; the scope comes from the incidents, in one statement."""
    wanted = [c for c in CASE_FILE if c in cases]
    frame = cases[["incident_id", *wanted]].rename(columns={"incident_id": "src_row"})
    frame.insert(1, "external_id", None)
    cols = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in wanted)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(STAGE)))
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (src_row bigint, external_id text, {}) ON COMMIT DROP"
        ).format(sql.Identifier(STAGE), cols)
    )
    copy_frame(conn, STAGE, frame, schema="pg_temp")
    names = sql.SQL(", ").join(sql.Identifier(c) for c in wanted)
    with scope_given(conn):
        return conn.execute(
            sql.SQL(
                "INSERT INTO citybrain.case_files "
                "(incident_id, {names}, town_id, village_id, grid_id, team_id) "
                "SELECT i.id, {values}, ch.town_id, ch.village_id, ch.grid_id, i.team_id "
                "FROM pg_temp.{stage} c JOIN citybrain.incidents i ON i.id = c.src_row "
                "LEFT JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id"
            ).format(names=names, values=_values(wanted, "c"), stage=sql.Identifier(STAGE))
        ).rowcount
