"""The documented schema: table names, geometry types, SRIDs, indexes, keys; migrations = models."""

from __future__ import annotations

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from citybrain.db.connection import get_engine
from citybrain.db.migrate import head_revision
from citybrain.db.models import SCHEMA, Base

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
