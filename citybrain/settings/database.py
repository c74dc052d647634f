"""Where the database is and how the server reaches it: the embedded cluster or a URL, a
pooler, read replicas, and the login of each kind of connection."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from citybrain.settings.base import Part

# The embedded cluster's login for the server's request connections: owns nothing, a member of
# the server role only (citybrain.db.cluster.ensure_server_login).
SERVER_LOGIN = "citybrain_app"
# Its login for imports through the API (POST /imports): a member of citybrain_importer, which
# may write the layers and owns nothing (migration 0017).
IMPORT_LOGIN = "citybrain_import"


def _default_data_dir() -> Path:
    # As root the embedded cluster runs as an unprivileged user, who cannot enter /root:
    # keep its files under /var/lib instead of the home directory.
    if os.geteuid() == 0:
        return Path("/var/lib/citybrain")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "citybrain"


def _with_driver(url: str) -> str:
    """Users paste libpq URLs; SQLAlchemy needs the driver named."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class DatabaseSettings(Part):
    """Where the database is and how the server reaches it: the embedded cluster or a URL, a
    pooler, read replicas, and the login of each kind of connection."""

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (postgresql+psycopg://...); unset = embedded"
    )
    pooler: Literal["none", "pgbouncer"] = Field(
        default="none",
        description="what CITYBRAIN_DATABASE_URL points at: the database itself (none), or a "
        "PgBouncer in transaction mode (pgbouncer: request connections send no startup options "
        "and prepare no statements; their login must itself be least-privileged and bounded "
        "(ALTER ROLE ... SET role, SET statement_timeout), which the server checks at start; "
        "live events and the alert runner use CITYBRAIN_DIRECT_DATABASE_URL; docs/pgbouncer.md)",
    )
    direct_database_url: str | None = Field(
        default=None,
        description="the primary itself, not through a pooler: the live events' LISTEN, the alert "
        "runner's session lock and imports through the API connect here (default: "
        "CITYBRAIN_DATABASE_URL; required with CITYBRAIN_POOLER=pgbouncer)",
    )
    server_database_url: str | None = Field(
        default=None,
        description="the login the server's request connections use: one that owns nothing, a "
        "member of CITYBRAIN_SERVER_ROLE (docs/security.md). Default: in the embedded cluster "
        "its own such login (citybrain_app, made by `citybrain db migrate`, password in "
        "server.password beside the superuser's); else CITYBRAIN_DATABASE_URL",
    )
    import_database_url: str | None = Field(
        default=None,
        description="the login POST /imports writes as (a member of citybrain_importer, "
        "migration 0017). Default: in the embedded cluster its own such login (citybrain_import, "
        "password in import.password); else CITYBRAIN_DIRECT_DATABASE_URL",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    pg_port: int = Field(default=55432, description="port of the embedded PostgreSQL cluster")
    pg_version: int | None = Field(
        default=None, description="PostgreSQL major version for the embedded cluster"
    )
    install_packages: bool = Field(
        default=True, description="let `db up` apt-get install PostgreSQL/PostGIS when missing"
    )
    server_role: str = Field(
        default="citybrain_server",
        description="database role the server's request connections act as (SET ROLE; made "
        "by the migrations: reads, and only the writes requests make); empty: the login's own",
    )
    pool_size: int = Field(default=16, description="database connections per server process")
    pool_timeout_s: float = Field(
        default=5.0, gt=0, description="longest a request waits for a database connection (503)"
    )
    replica_urls: str = Field(
        default="",
        description="streaming standbys that may serve reads (comma-separated database URLs); "
        "a read carrying Citybrain-LSN goes to one only once it has replayed that LSN",
    )
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, description="a replica further behind the primary than this is skipped"
    )
    replica_check_s: float = Field(
        default=0.5, gt=0, description="how often each process measures its replicas' lag"
    )

    @field_validator("server_role")
    @classmethod
    def _role_name(cls, value: str) -> str:
        if value and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError(f"{value!r} is not a role name (lower-case letters, digits, _)")
        return value

    @field_validator(
        "database_url", "direct_database_url", "server_database_url", "import_database_url"
    )
    @classmethod
    def _psycopg_driver(cls, value: str | None) -> str | None:
        return _with_driver(value) if value else value

    @model_validator(mode="after")
    def _pooler_has_direct_url(self) -> Self:
        # Through a transaction-mode pooler, LISTEN and session locks would land on a server
        # connection that other clients get next: they need the primary itself.
        if self.pooler != "none" and not self.database_url:
            raise ValueError(
                f"CITYBRAIN_POOLER={self.pooler} needs CITYBRAIN_DATABASE_URL: the pooler's address"
            )
        if self.pooler != "none" and (
            not self.direct_database_url or self.direct_database_url == self.database_url
        ):
            raise ValueError(
                f"CITYBRAIN_POOLER={self.pooler} needs CITYBRAIN_DIRECT_DATABASE_URL: the primary "
                "itself (not the pooler), for live events (LISTEN), the alert runner's lock and "
                "imports"
            )
        return self

    @field_validator("replica_urls")
    @classmethod
    def _replica_drivers(cls, value: str) -> str:
        urls = [u.strip() for u in value.split(",") if u.strip()]
        for i, url in enumerate(urls, start=1):
            if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
                # (the position, never the URL: it may hold a password)
                raise ValueError(f"CITYBRAIN_REPLICA_URLS: URL {i} is not a postgresql:// URL")
        return ",".join(_with_driver(u) for u in urls)

    @property
    def replicas(self) -> list[str]:
        """The read replicas' SQLAlchemy URLs (``CITYBRAIN_REPLICA_URLS``)."""
        return [u for u in self.replica_urls.split(",") if u]

    @property
    def direct_sqlalchemy_url(self) -> str:
        """The primary itself, never through a pooler (``CITYBRAIN_DIRECT_DATABASE_URL``)."""
        return self.direct_database_url or self.sqlalchemy_url

    @property
    def embedded(self) -> bool:
        return not self.database_url

    @property
    def superuser_password_file(self) -> Path:
        """The embedded cluster's superuser password (made by ``db up``; mode 0600)."""
        return self.data_dir / "superuser.password"

    @property
    def server_password_file(self) -> Path:
        """The embedded cluster's server login's password (made by ``db migrate``; 0600)."""
        return self.data_dir / "server.password"

    @property
    def import_password_file(self) -> Path:
        """The embedded cluster's import login's password (made by ``db migrate``; 0600)."""
        return self.data_dir / "import.password"

    @property
    def import_sqlalchemy_url(self) -> str:
        """The login ``POST /imports`` writes as: ``CITYBRAIN_IMPORT_DATABASE_URL``; in the
        embedded cluster its own import login (``IMPORT_LOGIN``); else the direct URL."""
        if self.import_database_url:
            return self.import_database_url
        if self.embedded:
            try:
                password = self.import_password_file.read_text().strip()
            except OSError:
                return self.direct_sqlalchemy_url
            return (
                f"postgresql+psycopg://{IMPORT_LOGIN}:{password}@127.0.0.1:{self.pg_port}/citybrain"
            )
        return self.direct_sqlalchemy_url

    @property
    def server_direct_sqlalchemy_url(self) -> str:
        """The server's own sessions on the primary itself (the live events' LISTEN, the alert
        runner's lock, start-up checks): ``CITYBRAIN_DIRECT_DATABASE_URL``; else, straight to
        PostgreSQL, the request connections' login (the server holds no owner's password);
        else the database URL."""
        if self.direct_database_url:
            return self.direct_database_url
        if self.pooler == "none" and (self.server_database_url or self.embedded):
            return self.request_sqlalchemy_url
        return self.sqlalchemy_url

    @property
    def request_sqlalchemy_url(self) -> str:
        """The login of the server's request connections: ``CITYBRAIN_SERVER_DATABASE_URL``;
        in the embedded cluster its own login that owns nothing (``SERVER_LOGIN``); else the
        database URL (whose requests still act as ``CITYBRAIN_SERVER_ROLE``)."""
        if self.server_database_url:
            return self.server_database_url
        if self.embedded:
            try:
                password = self.server_password_file.read_text().strip()
            except OSError:  # not made yet (`citybrain serve` makes it before serving)
                return self.sqlalchemy_url
            return (
                f"postgresql+psycopg://{SERVER_LOGIN}:{password}@127.0.0.1:{self.pg_port}/citybrain"
            )
        return self.sqlalchemy_url

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        try:  # (unreadable or not made yet: connecting says so)
            password = ":" + self.superuser_password_file.read_text().strip()
        except OSError:
            password = ""
        return f"postgresql+psycopg://postgres{password}@127.0.0.1:{self.pg_port}/citybrain"
