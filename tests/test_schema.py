"""The documented schema: table names, geometry types, SRIDs, indexes, keys; migrations = models."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from citybrain import sql as sql_files
from citybrain.alerts.queries import SQL_DIR as ALERTS_SQL
from citybrain.db.connection import get_engine
from citybrain.db.migrate import head_revision
from citybrain.db.models import SCHEMA, Base
from citybrain.domain import ACTIVE_STATUSES, OPEN_STATUSES, Source, Status, TeamStatus, Tier

POLYGONS = {
    "towns": None,
    "villages": "town_id",
    "grids": "village_id",
    "compounds": "grid_id",
    "micro_grids": "compound_id",
}
POINTS = ("teams", "cameras", "facilities", "incidents")


def test_geometry_columns(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT f_table_name, type, srid FROM geometry_columns "
        "WHERE f_table_schema = 'citybrain' AND f_geometry_column = 'geom'"
    ).fetchall()
    got = {name: (kind, srid) for name, kind, srid in rows}
    expected = {t: ("MULTIPOLYGON", 4326) for t in POLYGONS} | {t: ("POINT", 4326) for t in POINTS}
    expected |= {"roads": ("LINESTRING", 4326), "road_vertices": ("POINT", 4326)}
    expected |= {"alerts": ("MULTIPOLYGON", 4326), "outbreaks": ("POINT", 4326)}
    expected |= {"photos": ("POINT", 4326), "patrol_points": ("POINT", 4326)}
    assert got == expected


@pytest.mark.parametrize("table", [*POLYGONS, *POINTS])
def test_gist_index_on_geom(conn: psycopg.Connection, table: str) -> None:
    defs = [
        r[0]
        for r in conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'citybrain' AND tablename = %s",
            [table],
        )
    ]
    assert any("USING gist (geom)" in d for d in defs), defs


@pytest.mark.parametrize("table,fk", [(t, fk) for t, fk in POLYGONS.items() if fk])
def test_hierarchy_foreign_keys(conn: psycopg.Connection, table: str, fk: str) -> None:
    parent = list(POLYGONS)[list(POLYGONS).index(table) - 1]
    row = conn.execute(
        "SELECT confrelid::regclass::text FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) "
        "WHERE c.conrelid = %s::regclass AND c.contype = 'f' AND a.attname = %s",
        [f"citybrain.{table}", fk],
    ).fetchone()
    assert row == (f"citybrain.{parent}",)


@pytest.mark.parametrize("table", POINTS)
def test_point_tables_have_h3_and_micro_grid(conn: psycopg.Connection, table: str) -> None:
    cols = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'citybrain' AND table_name = %s",
            [table],
        ).fetchall()
    )
    assert cols["h3"] == "bigint"
    assert cols["micro_grid_id"] == "integer"


@pytest.mark.parametrize("table", POLYGONS)
def test_codes_are_unique(conn: psycopg.Connection, table: str) -> None:
    cols = [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'citybrain' AND table_name = %s AND column_name <> 'id'",
            [table],
        )
    ]
    listed = ", ".join(cols)
    with pytest.raises(psycopg.errors.UniqueViolation, match="code"):
        conn.execute(
            f"INSERT INTO citybrain.{table} ({listed}) "
            f"SELECT {listed} FROM citybrain.{table} LIMIT 1"
        )


def test_migrations_match_models(seeded: str) -> None:
    engine = get_engine(seeded)
    with engine.connect() as c:
        ctx = MigrationContext.configure(
            c,
            opts={
                "include_schemas": True,
                "version_table_schema": SCHEMA,
                "include_object": lambda o, n, t, r, ct: (
                    getattr(getattr(o, "table", o), "schema", None) == SCHEMA
                ),
            },
        )
        diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
        assert ctx.get_current_revision() == head_revision()


def _words(text: str) -> set[str]:
    return set(re.findall(r"'([a-z_0-9]+)'", text))


@pytest.mark.parametrize(
    ("constraint", "values"),
    [
        ("ck_incidents_status", set(Status)),
        ("ck_incidents_tier", set(Tier)),
        ("ck_incidents_source", set(Source)),
        ("ck_teams_status", set(TeamStatus)),
    ],
)
def test_check_constraints_are_the_domains_sets(
    conn: psycopg.Connection, constraint: str, values: set[str]
) -> None:
    """The database the (frozen) migrations built refuses exactly what domain.py does not know."""
    definition = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s", [constraint]
    ).fetchone()[0]
    assert _words(definition) == {str(v) for v in values}


def test_status_sets_in_the_database_are_the_domains(conn: psycopg.Connection) -> None:
    """The partial indexes and team_active() count the statuses domain.py names: a status
    added to OPEN_STATUSES without a migration would make the planner skip the index."""
    predicates = dict(
        conn.execute(
            "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname IN ('ix_incidents_open', 'ix_incidents_active_team')"
        ).fetchall()
    )
    assert _words(predicates["ix_incidents_open"]) == set(map(str, OPEN_STATUSES))
    assert _words(predicates["ix_incidents_active_team"]) == set(map(str, ACTIVE_STATUSES))
    body = conn.execute(
        "SELECT prosrc FROM pg_proc WHERE proname = 'team_active' "
        "AND pronamespace = 'citybrain'::regnamespace"
    ).fetchone()[0]
    assert _words(body) == set(map(str, ACTIVE_STATUSES))


def test_sql_files_take_the_domains_sets() -> None:
    """Every statement file (``citybrain/sql/``, and the alerts package's own) loads with its
    ``{domain.…}`` names written in, and none spells a status set out by hand (the set belongs
    to domain.py)."""
    statuses = {str(s) for s in (*Status, *TeamStatus)}
    for root, at_least in ((Path(sql_files.__file__).parent, 40), (ALERTS_SQL, 15)):
        names = [str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.sql")]
        assert len(names) > at_least
        for name in names:
            text = sql_files.load(name, root)
            assert "{domain." not in text, name
            raw = (root / f"{name}.sql").read_text()
            assert not _words(raw) & statuses, f"{name}.sql spells a status; use {{domain.…}}"
    loaded = sql_files.load("stats/summary")
    assert "status IN ('reported', 'registered', 'dispatched', 'on_site', 'escalated')" in loaded
    assert "status IN ('reported', 'registered', 'escalated')" in loaded  # AWAITING_DISPATCH


def test_domain_literals_refuse_what_is_not_a_domain_word() -> None:
    assert sql_files.literal(["reported", "on_site"]) == "('reported', 'on_site')"
    assert sql_files.literal(Status.closed) == "'closed'"
    for bad in (["x'); DROP TABLE t; --"], ["Reported"], [], "a b"):
        with pytest.raises(ValueError):
            sql_files.literal(bad)
