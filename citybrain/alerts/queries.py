"""The package's statements, ``sql/*.sql`` beside this module, read by the project's one loader
(``citybrain.sql``: the domain's sets written in, identifiers quoted)."""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

from citybrain import sql as sql_files

SQL_DIR = Path(__file__).parent / "sql"


def load(name: str) -> str:
    return sql_files.load(name, SQL_DIR)


def compose(name: str, **identifiers: str) -> sql.Composed:
    return sql_files.compose(name, SQL_DIR, **identifiers)
