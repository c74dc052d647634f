"""The tests' databases on the configured server: ``<name>_test`` and its siblings
(``<name>_test_rw``, ``_county``, ``_fresh``, …), made from scratch or as copies of a
template, and digests of their contents to tell whether anything wrote to them."""

from __future__ import annotations

import hashlib
import os

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from citybrain.db import cluster
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.db.migrate import upgrade
from citybrain.settings import Settings


def url_for_tests() -> str:
    """``CITYBRAIN_TEST_DATABASE_URL``, else ``<name>_test`` beside citybrain's database (the
    embedded cluster brought up if needed)."""
    if os.environ.get("CITYBRAIN_TEST_DATABASE_URL"):
        return Settings(database_url=os.environ["CITYBRAIN_TEST_DATABASE_URL"]).sqlalchemy_url
    base = Settings()
    cluster.ensure_up(base)
    url = make_url(base.sqlalchemy_url)
    return url.set(database=f"{url.database}_test").render_as_string(hide_password=False)


def sibling(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` added to the database's name."""
    u = make_url(url)
    return u.set(database=f"{u.database}{suffix}").render_as_string(hide_password=False)


def _recreate(url: str, template: str | None = None) -> None:
    name = make_url(url).database
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(make_url(template).database))
    with psycopg.connect(libpq_conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(create)


def create_database(url: str) -> None:
    """Drop and create the database of ``url``, with PostGIS and the migrated schema."""
    _recreate(url)
    cluster.up(Settings(database_url=url))
    upgrade(get_engine(url))


def clone_database(template: str, target: str) -> None:
    """``target`` dropped and created as a copy of ``template`` (which nothing may be using)."""
    _recreate(target, template)


def snapshot(conn: psycopg.Connection, sequences: bool = True) -> dict[str, str]:
    """A digest of every table of the schema and (unless told) every sequence's position: equal
    snapshots mean the database's contents did not change."""
    out: dict[str, str] = {}
    tables = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'citybrain' AND c.relkind IN ('r', 'S') ORDER BY 1"
    ).fetchall()
    for name, kind in tables:
        if kind == "S":
            if sequences:
                value = conn.execute(f"SELECT last_value, is_called FROM citybrain.{name}")
                out[name] = str(value.fetchone())
            continue
        text = conn.execute(
            f"SELECT coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '') "
            f"FROM citybrain.{name} t"
        ).fetchone()[0]
        out[name] = hashlib.sha256(text.encode()).hexdigest()
    return out


def changed_tables(url: str, template: str) -> list[str]:
    """The tables whose rows differ between the database of ``url`` and ``template``, a copy
    of it as it was (sequences aside: a rolled-back insert moves them too)."""
    with (
        psycopg.connect(libpq_conninfo(url)) as now,
        psycopg.connect(libpq_conninfo(template)) as was,
    ):
        a, b = snapshot(now, sequences=False), snapshot(was, sequences=False)
    return sorted(t for t in a.keys() | b.keys() if a.get(t) != b.get(t))
