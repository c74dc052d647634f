"""Connections: an SQLAlchemy engine (models, migrations, geopandas) and raw psycopg
connections (COPY and the API's hot paths), both from one SQLAlchemy URL."""

from __future__ import annotations

from functools import lru_cache

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url


def libpq_conninfo(url: str, dbname: str | None = None, **extra) -> str:
    """The libpq connection string for an SQLAlchemy URL (optionally another database on it).

    The URL's query parameters (``?sslmode=verify-full&sslrootcert=...``) are kept; ``options``
    given both there and in ``extra`` are joined, the URL's first."""
    u = make_url(url)
    params = {k: v if isinstance(v, str) else v[-1] for k, v in u.query.items()}
    if "options" in params and "options" in extra:
        extra = {**extra, "options": f"{params['options']} {extra['options']}"}
    return psycopg.conninfo.make_conninfo(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password or None,
        dbname=dbname or u.database or "postgres",
        **{"connect_timeout": 5, **params, **extra},
    )


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, future=True)


def connect(url: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(libpq_conninfo(url), **kwargs)
