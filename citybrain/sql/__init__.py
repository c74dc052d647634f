"""SQL kept in files: ``load("validate/gaps")`` reads ``validate/gaps.sql`` next to this module.

Table and column names are filled in with ``psycopg.sql.Identifier`` (never string formatting);
values are always bound parameters.
"""

from functools import cache
from pathlib import Path

from psycopg import sql

_HERE = Path(__file__).parent


@cache
def load(name: str) -> str:
    return (_HERE / f"{name}.sql").read_text()


def compose(name: str, **identifiers: str) -> sql.Composed:
    """The statement in ``name``.sql with ``{placeholders}`` filled by quoted identifiers."""
    return sql.SQL(load(name)).format(
        **{k: sql.Identifier(*v.split(".")) for k, v in identifiers.items()}
    )
