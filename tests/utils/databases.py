"""The tests' databases on the configured server: ``<name>_test`` (with the parallel worker's
id: ``<name>_test_gw0``) and its siblings (``_rw``, ``_county``, ``_fresh``, …), made as copies
of templates, and digests of their contents to tell whether anything wrote to them.

Templates are built once and shared by every worker of a run and by later runs: a migrated
empty database (``<name>_test_tpl_empty``) and the seeded test county
(``<name>_test_tpl_county``), each marked with a fingerprint of the code that made it (its
database comment); code that changes makes them again. Building one holds a file lock, so
parallel workers wait for the first instead of racing to create the same roles.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

import citybrain
from citybrain.db import cluster
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.db.migrate import upgrade
from citybrain.settings import Settings

LOCK = Path(tempfile.gettempdir()) / "citybrain-test-databases.lock"


def base_url() -> str:
    """``CITYBRAIN_TEST_DATABASE_URL``, else ``<name>_test`` beside citybrain's database (the
    embedded cluster brought up if needed): the name every worker's databases start with."""
    if os.environ.get("CITYBRAIN_TEST_DATABASE_URL"):
        return Settings(database_url=os.environ["CITYBRAIN_TEST_DATABASE_URL"]).sqlalchemy_url
    base = Settings()
    cluster.ensure_up(base)
    url = make_url(base.sqlalchemy_url)
    return url.set(database=f"{url.database}_test").render_as_string(hide_password=False)


def url_for_tests() -> str:
    """This worker's test database: the base name, and the worker's id when tests run in
    parallel (pytest-xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return sibling(base_url(), f"_{worker}") if worker else base_url()


@contextmanager
def _locked() -> Iterator[None]:
    with LOCK.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fingerprint(*key: object) -> str:
    """What a template depends on: every source file of the package, and ``key``."""
    digest = hashlib.sha256(repr(key).encode())
    root = Path(citybrain.__file__).parent
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".sql", ".yaml") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def _comment(url: str) -> str | None:
    name = make_url(url).database
    with psycopg.connect(libpq_conninfo(url, "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    return row[0] if row else None


def template(suffix: str, build: Callable[[str], None], *key: object) -> str:
    """The template ``<base><suffix>``: migrated, then ``build`` run on it, once for this code
    and ``key`` (whoever gets the lock first builds it; the others find it)."""
    url = sibling(base_url(), suffix)
    stamp = _fingerprint(suffix, *key)
    with _locked():
        if _comment(url) != stamp:
            _recreate(url)
            cluster.up(Settings(database_url=url))
            upgrade(get_engine(url))
            build(url)
            get_engine(url).dispose()  # a template must have no connections
            with psycopg.connect(libpq_conninfo(url, "postgres"), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        sql.Identifier(make_url(url).database), sql.Literal(stamp)
                    )
                )
    return url


def empty_template() -> str:
    """A migrated database with nothing in it."""
    return template("_tpl_empty", lambda _url: None)


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
    """Drop and create the database of ``url``, with PostGIS and the migrated schema (a copy of
    the migrated empty template)."""
    clone_database(empty_template(), url)


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
