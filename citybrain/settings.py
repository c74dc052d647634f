"""All citybrain settings, read from ``CITYBRAIN_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from citybrain.domain import KEY_ROLES

MIN_KEY_CHARS = 20  # a bootstrap key: ~120 bits if random; made keys have 192
# The embedded cluster's login for the server's request connections: owns nothing, a member of
# the server role only (citybrain.db.cluster.ensure_server_login).
SERVER_LOGIN = "citybrain_app"
# Its login for imports through the API (POST /imports): a member of citybrain_importer, which
# may write the layers and owns nothing (migration 0017).
IMPORT_LOGIN = "citybrain_import"


def _default_layers_dir() -> Path:
    # The repository's layers/ next to the package (or the image's /app/layers).
    return Path(__file__).resolve().parent.parent / "layers"


def _default_alerts_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "alerts"


def _default_data_dir() -> Path:
    # As root the embedded cluster runs as an unprivileged user, who cannot enter /root:
    # keep its files under /var/lib instead of the home directory.
    if os.geteuid() == 0:
        return Path("/var/lib/citybrain")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "citybrain"


class Settings(BaseSettings):
    """citybrain settings.

    ``database_url`` is an SQLAlchemy URL with the psycopg 3 driver, for example
    ``postgresql+psycopg://postgres@127.0.0.1:5432/citybrain``. When it is unset, citybrain
    runs its own PostgreSQL cluster in ``data_dir`` on ``pg_port`` (see ``citybrain db up``).
    """

    # hide_input_in_errors: a bad setting's error names it but never repeats its value (keys,
    # database passwords).
    model_config = SettingsConfigDict(
        env_prefix="CITYBRAIN_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

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
    serve_user: str = Field(
        default="citybrain-web",
        description="the system user `citybrain serve` runs as when started as root (made if "
        "missing): it reads its own logins' passwords, never the superuser's, nor the cluster's "
        "data",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    pg_port: int = Field(default=55432, description="port of the embedded PostgreSQL cluster")
    pg_version: int | None = Field(
        default=None, description="PostgreSQL major version for the embedded cluster"
    )
    install_packages: bool = Field(
        default=True, description="let `db up` apt-get install PostgreSQL/PostGIS when missing"
    )
    layers_dir: Path = Field(default_factory=_default_layers_dir)
    tile_cache_mb: int = Field(default=256, description="memory for cached tiles, per process")
    tile_archive_url: str | None = Field(
        default=None,
        description="where the static layers' PMTiles archive is served (citybrain tiles export; "
        "any static host or CDN): /style.json?archive=true draws them from it",
    )
    alerts_dir: Path = Field(
        default_factory=_default_alerts_dir, description="the early-warning detector files"
    )
    alerts_run: bool = Field(
        default=True,
        description="this server runs the detectors (one process at a time does, whichever "
        "holds the database's lock)",
    )
    alerts_tick_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often the runner looks for due detectors"
    )
    timezone: str = Field(
        default="Asia/Shanghai", description="time zone of dates and times given without one"
    )
    clock_at: datetime | None = Field(
        default=None,
        description="run the service as of this instant, time passing from there (a training "
        "county on archived data, a demonstration, the tests' county): windows, today's counts, "
        "time limits and stamps all read this clock (citybrain.clock); unset: the wall clock",
    )
    clock_since: datetime | None = Field(
        default=None,
        description="the wall-clock instant at which the clock read CITYBRAIN_CLOCK_AT "
        "(default: when each process first reads it; give it so that several processes agree)",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    dispatch_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="port of the dispatch process: callers with a key, served by a process of "
        "its own while the public workers run at a lower CPU priority (0: none; dispatch is "
        "then served on the public port with everything else)",
    )
    public_nice: int = Field(
        default=10, ge=0, le=19, description="how much lower the public workers' CPU priority is"
    )
    heavy_slots: int = Field(
        default=2,
        ge=1,
        description="heavy answers (heatmaps, uncached tiles, OGC pages) one "
        "server process builds at once; more wait their turn",
    )
    heavy_slots_database: int = Field(
        default=1,
        ge=0,
        description="heavy answers built at once across every server process on the database "
        "(advisory locks); keep it below the database's cores, so that dispatch always finds "
        "one; 0: no limit",
    )
    heavy_wait_s: float = Field(
        default=10.0, gt=0, description="longest a heavy answer waits its turn (503 after)"
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
    access_log: bool = Field(
        default=False, description="log every request (costs ~10% of throughput on hot paths)"
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="log lines as JSON objects (for a log collector) or plain text (a terminal); "
        "either carries the request id",
    )
    metrics_access: Literal["key", "anonymous", "off"] = Field(
        default="key",
        description="who may read /metrics: callers with an API key (any role), anyone, or "
        "nobody (404)",
    )
    statement_timeout_ms: int = Field(
        default=15_000,
        ge=100,
        description="longest a statement of a request to the public workers may run (heatmaps, "
        "layers, analytics)",
    )
    dispatch_statement_timeout_ms: int = Field(
        default=3_000,
        ge=100,
        description="longest a statement of a request to the dispatch process may run "
        "(CITYBRAIN_DISPATCH_PORT; its statements take milliseconds). Through a pooler, the "
        "pooler login's own deadline applies to both",
    )
    max_body_kb: int = Field(
        default=1024, ge=1, description="largest request body but an import's, in KB"
    )
    max_header_kb: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="largest request line and headers, in KB (431 past it, counted as they "
        "arrive: nothing larger is read)",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="longest a request's line and headers may take to arrive (408 after)",
    )
    body_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="a request body must bring at least 1 KB in every this many seconds "
        "until it is complete (408 otherwise): slow links pass, a dripped body does not",
    )
    max_offset: int = Field(default=100_000, ge=0, description="deepest OGC items page")
    max_heatmap_cells: int = Field(
        default=250_000, ge=1, description="cells in one heatmap answer (a year at res 11: ~153k)"
    )
    max_tile_hexagons: int = Field(
        default=20_000, ge=1, description="hexagons in one heatmap tile (a screenful: ~2,000)"
    )
    heat_shared: bool = Field(
        default=True,
        description="one copy of the heat index's sorted base per machine, mapped by every "
        "server process (false: each process holds its own, as on a platform without /dev/shm)",
    )
    heat_shared_dir: Path = Field(
        default_factory=lambda: Path(
            "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        ),
        description="where the shared heat index files live (memory-backed /dev/shm where there "
        "is one; a file system's directory works too, through the page cache)",
    )
    max_event_streams: int = Field(
        default=500, ge=1, description="live streams (/events) one server process holds"
    )
    max_event_streams_per_client: int = Field(
        default=16,
        ge=1,
        description="live streams one client holds on one server process: one key (by its "
        "name), or one address without a key (a wall of screens behind one address: raise it)",
    )
    import_max_mb: int = Field(
        default=200, ge=1, description="largest body POST /imports/{layer} reads, in MB"
    )
    import_max_memory_mb: int = Field(
        default=2048,
        ge=64,
        description="memory, in MB, an import sent to POST /imports/{layer} may take in the "
        "process of its own it runs in (beyond the ~300 MB its libraries take); one that needs "
        "more is refused (413) and writes nothing. `citybrain import` has no such limit",
    )
    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="comma-separated role:key pairs (roles: display, viewer, dispatcher, "
        "admin) that bootstrap access; keys of their own are made with `citybrain keys create`",
    )
    rate_limit: str = Field(
        default="100/second;3000/minute",
        description="requests one client address without a key may make (limits' notation: "
        "'100/second;3000/minute'; empty: no limit), per server process",
    )
    rate_limit_keyed: str = Field(
        default="200/second;12000/minute",
        description="requests one API key may make, per server process (empty: no limit)",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="proxies whose X-Forwarded-For names the client (comma-separated addresses "
        "or networks; '*' trusts all; empty, the default, trusts none: any local process could "
        "otherwise claim to be a thousand clients). Name the deployment's own proxy here",
    )
    public_url: str | None = Field(
        default=None,
        description="the service's public base URL, e.g. https://screen.county.gov.cn/citybrain: "
        "links in answers (the style, TileJSON, OGC links) and redirects are built from it; "
        "unset: from the request's own host, once it is checked against CITYBRAIN_ALLOWED_HOSTS",
    )
    allowed_hosts: str = Field(
        default="",
        description="host names requests may address (comma-separated; '*.example.cn' takes its "
        "subdomains, '*' any host); any other gets 400 invalid_host, health checks and /metrics "
        "excepted. Empty: the loopback names and CITYBRAIN_HOST. CITYBRAIN_PUBLIC_URL's host is "
        "always allowed",
    )
    server_role: str = Field(
        default="citybrain_server",
        description="database role the server's request connections act as (SET ROLE; made "
        "by the migrations: reads, and only the writes requests make); empty: the login's own",
    )
    anonymous_reads: bool = Field(
        default=True,
        description="let callers without a key read what a public screen shows (layers, "
        "tiles, aggregates); false: every request but health checks needs a key",
    )

    @field_validator("api_keys")
    @classmethod
    def _valid_keys(cls, value: SecretStr) -> SecretStr:
        # Errors name the pair's position, never a key (the setting is a secret).
        for i, pair in enumerate(
            filter(None, (p.strip() for p in value.get_secret_value().split(","))), start=1
        ):
            role, sep, key = pair.partition(":")
            if not sep or role not in KEY_ROLES:
                raise ValueError(
                    f"CITYBRAIN_API_KEYS: pair {i} is not role:key with a role of "
                    + ", ".join(KEY_ROLES)
                )
            if len(key.strip()) < MIN_KEY_CHARS:
                raise ValueError(
                    f"CITYBRAIN_API_KEYS: the key of pair {i} ({role}) is shorter than "
                    f"{MIN_KEY_CHARS} characters; `citybrain keys create {role}` makes a strong one"
                )
        return value

    @field_validator("server_role")
    @classmethod
    def _role_name(cls, value: str) -> str:
        if value and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError(f"{value!r} is not a role name (lower-case letters, digits, _)")
        return value

    @field_validator("rate_limit", "rate_limit_keyed")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        from limits import parse_many

        if value.strip():
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit: write e.g. '100/second;3000/minute'"
                ) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _valid_public_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(
                f"CITYBRAIN_PUBLIC_URL {value!r} is not a base URL: write e.g. "
                "https://screen.county.gov.cn or https://screen.county.gov.cn/citybrain"
            )
        return value.strip().split("#")[0].rstrip("/")

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, value: str) -> str:
        for host in (h.strip() for h in value.split(",") if h.strip()):
            if not re.fullmatch(r"\*|(\*\.)?[A-Za-z0-9_.-]+|\[?[0-9A-Fa-f:.]+\]?", host):
                raise ValueError(
                    f"CITYBRAIN_ALLOWED_HOSTS: {host!r} is not a host name (no scheme, port or "
                    "path: e.g. screen.county.gov.cn, *.county.gov.cn, 10.1.2.3)"
                )
        return value

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        if self.dispatch_port and self.dispatch_port == self.port:
            raise ValueError(
                f"CITYBRAIN_DISPATCH_PORT and CITYBRAIN_PORT are both {self.port}: the dispatch "
                "process needs a port of its own (or 0 for none)"
            )
        return self

    @field_validator(
        "database_url", "direct_database_url", "server_database_url", "import_database_url"
    )
    @classmethod
    def _psycopg_driver(cls, value: str | None) -> str | None:
        return _with_driver(value) if value else value

    @model_validator(mode="after")
    def _pooler_has_direct_url(self) -> Settings:
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


def _with_driver(url: str) -> str:
    """Users paste libpq URLs; SQLAlchemy needs the driver named."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
