"""Bring the database up: an external server from ``CITYBRAIN_DATABASE_URL``, or an embedded
PostgreSQL cluster that citybrain installs, creates and starts in a data directory of its own.

The embedded cluster is the same code path whether or not a system PostgreSQL already runs: it
uses its own data directory and port, so it never touches (or depends on) another cluster.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from citybrain.db.connection import libpq_conninfo
from citybrain.errors import DatabaseUnavailable, InvalidInput
from citybrain.settings import IMPORT_LOGIN, SERVER_LOGIN, Settings

PG_ROOT = Path("/usr/lib/postgresql")
DEFAULT_PG_VERSION = 15  # Debian 12's PostgreSQL
RUN_AS_ROOT_USERS = ("postgres", "citybrain")

# Tuned for one machine with a few cores and many GiB that also runs the API.
SERVER_CONFIG = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "'2GB'",
    "effective_cache_size": "'12GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'1GB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'15min'",
    "random_page_cost": "1.1",
    # JIT compiles for seconds-long analytics; it only slows the millisecond queries we serve.
    "jit": "off",
    "timezone": "'UTC'",
    # A standby made by `db up --replica` streams through a replication slot, which keeps the
    # WAL it has not received; this bounds what a stopped standby can hold on the primary's
    # disk (past it the standby needs a new base backup).
    "max_slot_wal_keep_size": "'10GB'",
    # No row values in the log: an error's DETAIL ("Failing row contains (...)": a whole
    # incident, a reporter's phone) and the statement that failed stay out of it; the client
    # that sent the row still gets both.
    "log_error_verbosity": "terse",
    "log_min_error_statement": "panic",
}
# The cluster's directory: its owner may list and write it; others may only pass through it to
# a file they are given (the server's login's password), never list it or read its log.
DATA_DIR_MODE = 0o711
LOG_MODE = 0o600


def real_clock_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) without libfaketime, for PostgreSQL's
    programs. Under libfaketime (``faketime``, which the suite is run under to show that it
    passes on any date) a PostgreSQL cluster's processes read the faked and the real clock
    both, so its timers misfire: ``statement_timeout`` never stops a statement. The database
    needs no fake clock: citybrain hands it every business instant as a parameter
    (``citybrain.clock``); its own ``now()`` only stamps rows (a key's revocation, a
    default ``created_at``)."""
    out = dict(os.environ if env is None else env)
    preload = [p for p in out.pop("LD_PRELOAD", "").split(":") if p and "faketime" not in p]
    if preload:
        out["LD_PRELOAD"] = ":".join(preload)
    for name in [n for n in out if n.startswith(("FAKETIME", "DONT_FAKE"))]:
        del out[name]
    return out


@dataclass
class ClusterStatus:
    mode: str  # "external" or "embedded"
    url: str
    running: bool
    detail: str


def _log(message: str) -> None:
    print(f"[citybrain db] {message}", flush=True)


def conninfo(settings: Settings, dbname: str | None = None) -> str:
    """libpq connection string for the configured database (or another db on its server)."""
    return libpq_conninfo(settings.sqlalchemy_url, dbname)


def _can_connect(info: str) -> bool:
    try:
        with psycopg.connect(info, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


# --- packages --------------------------------------------------------------------------------


def installed_versions() -> list[int]:
    if not PG_ROOT.is_dir():
        return []
    return sorted(
        int(p.name) for p in PG_ROOT.iterdir() if p.name.isdigit() and (p / "bin/postgres").exists()
    )


def _has_extension(version: int, name: str) -> bool:
    return Path(f"/usr/share/postgresql/{version}/extension/{name}.control").exists()


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise DatabaseUnavailable(
            f"PostgreSQL/PostGIS packages are missing ({' '.join(packages)}) and citybrain cannot "
            "install them here (needs root and apt-get). Install them, or set "
            "CITYBRAIN_DATABASE_URL to a PostGIS database."
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _log(f"installing {' '.join(packages)} with apt-get")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)


# The extensions citybrain's database needs, each with the Debian package (PostgreSQL's apt
# repository names them alike) that carries it for a PostgreSQL major version: PostGIS for
# everything, pgRouting for road routes (GET /teams/{id}/route; without it routes fall back to
# straight lines). The embedded cluster installs them; docker-compose.yml's database image
# (deploy/db.Dockerfile) must carry them too (tests/test_compose.py checks it).
EXTENSIONS = {
    "postgis": "postgresql-{major}-postgis-3",
    "pgrouting": "postgresql-{major}-pgrouting",
}
REQUIRED_EXTENSIONS = ("postgis",)


def ensure_packages(settings: Settings) -> int:
    """Make sure PostgreSQL and PostGIS (and pgRouting, if it can be had) are installed.

    Returns the PostgreSQL major version to use.
    """
    versions = installed_versions()
    version = settings.pg_version or (versions[-1] if versions else DEFAULT_PG_VERSION)
    missing = []
    if version not in versions:
        missing += [f"postgresql-{version}"]
    missing += [
        package.format(major=version)
        for name, package in EXTENSIONS.items()
        if not _has_extension(version, name)
    ]
    if missing and settings.install_packages:
        try:
            _apt_install(missing)
        except (DatabaseUnavailable, subprocess.CalledProcessError):
            # pgRouting is optional (routing falls back to straight lines); the rest is not.
            if version not in installed_versions() or not _has_extension(version, "postgis"):
                raise
    if version not in installed_versions() or not _has_extension(version, "postgis"):
        raise DatabaseUnavailable(
            f"PostgreSQL {version} with PostGIS is not installed; run "
            f"`apt-get install postgresql-{version}-postgis-3` or set CITYBRAIN_DATABASE_URL."
        )
    return version


# --- the embedded cluster --------------------------------------------------------------------


class EmbeddedCluster:
    """A private PostgreSQL cluster under ``settings.data_dir``; with ``replica`` n > 0, the
    n-th streaming standby of it (``pg{version}-replica{n}``, on ``pg_port`` + n), made by a
    base backup of the running primary."""

    def __init__(self, settings: Settings, version: int | None = None, replica: int = 0):
        self.settings = settings
        self.version = version or settings.pg_version or DEFAULT_PG_VERSION
        self.bin = PG_ROOT / str(self.version) / "bin"
        self.replica = replica
        name = f"pg{self.version}" + (f"-replica{replica}" if replica else "")
        self.pgdata = settings.data_dir / name
        self.logfile = settings.data_dir / f"{name}.log"
        self.port = settings.pg_port + replica

    # Running as root, PostgreSQL refuses to start: run it as an unprivileged user.
    def _owner(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        for name in RUN_AS_ROOT_USERS:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        subprocess.run(
            [
                "useradd",
                "--system",
                "--home-dir",
                str(self.settings.data_dir),
                "--shell",
                "/usr/sbin/nologin",
                "citybrain",
            ],
            check=True,
        )
        return pwd.getpwnam("citybrain")

    def _run(
        self, args: list[str], check: bool = True, env: dict | None = None
    ) -> subprocess.CompletedProcess[str]:
        owner = self._owner()
        env = real_clock_env(env)
        kwargs: dict = {"cwd": "/", "text": True, "capture_output": True, "env": env}
        if owner is not None:
            kwargs.update(user=owner.pw_uid, group=owner.pw_gid, extra_groups=[])
        proc = subprocess.run(args, **kwargs)
        if check and proc.returncode != 0:
            raise DatabaseUnavailable(
                f"`{' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
        return proc

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised() or not (self.bin / "pg_ctl").exists():
            return False
        return (
            self._run(
                [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "status"], check=False
            ).returncode
            == 0
        )

    def _prepare_dirs(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.settings.data_dir, DATA_DIR_MODE)
        owner = self._owner()
        if owner is not None:
            os.chown(self.settings.data_dir, owner.pw_uid, owner.pw_gid)
            # The unprivileged owner must be able to reach its data directory.
            probe = subprocess.run(
                ["test", "-w", str(self.settings.data_dir)],
                user=owner.pw_uid,
                group=owner.pw_gid,
                extra_groups=[],
            )
            if probe.returncode != 0:
                raise DatabaseUnavailable(
                    f"user {owner.pw_name} cannot write {self.settings.data_dir}; set "
                    "CITYBRAIN_DATA_DIR to a directory outside any private home directory"
                )

    def _write_config(self) -> None:
        conf = {
            **SERVER_CONFIG,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.pgdata}'",
        }
        path = self.pgdata / "citybrain.conf"
        path.write_text(
            "# written by `citybrain db up`; edit CITYBRAIN_* settings instead\n"
            + "".join(f"{k} = {v}\n" for k, v in conf.items())
        )
        main_conf = self.pgdata / "postgresql.conf"
        include = "include_if_exists = 'citybrain.conf'\n"
        if include not in main_conf.read_text():
            with main_conf.open("a") as fh:
                fh.write(include)
        owner = self._owner()
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    # --- passwords: SCRAM, never trust --------------------------------------------------------

    def _password(self) -> str:
        """The superuser's password (:func:`secret_in`)."""
        return secret_in(self.settings.superuser_password_file)

    def _initdb(self) -> None:
        _log(f"creating PostgreSQL {self.version} cluster in {self.pgdata}")
        # initdb runs as the cluster's owner: hand it the password in a file of its own,
        # removed at once.
        pwfile = self.settings.data_dir / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self._password() + "\n")
        owner = self._owner()
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "-A",
                    "scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _no_trust(self) -> None:
        """A cluster made before passwords (initdb -A trust) gets one: the superuser's
        password is set, every ``trust`` line of pg_hba.conf becomes ``scram-sha-256``, and
        the server reloads its configuration."""
        hba = self.pgdata / "pg_hba.conf"
        try:
            lines = hba.read_text().splitlines(keepends=True)
        except PermissionError:  # another user's cluster: theirs to convert
            return
        trusting = [i for i, ln in enumerate(lines) if _hba_method(ln) == "trust"]
        if not trusting:
            return
        _log("the cluster trusted local connections: it now asks for a password (SCRAM)")
        password = self._password()
        with psycopg.connect(
            libpq_conninfo(f"postgresql://postgres@127.0.0.1:{self.port}/postgres"),
            autocommit=True,
        ) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
        for i in trusting:
            head = lines[i].rstrip("\n").rstrip()
            lines[i] = head[: -len("trust")] + "scram-sha-256\n"
        stat = hba.stat()
        hba.write_text("".join(lines))
        os.chown(hba, stat.st_uid, stat.st_gid)
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "reload"])

    def _base_backup(self) -> None:
        """Copy the running primary into this standby's data directory, streaming its WAL
        through a slot of its own (``citybrain_replica<n>``), configured to follow it."""
        primary = EmbeddedCluster(self.settings, self.version)
        if not primary.running():
            raise DatabaseUnavailable("the primary is not running: `citybrain db up` first")
        slot = f"citybrain_replica{self.replica}"
        with psycopg.connect(
            libpq_conninfo(self.settings.sqlalchemy_url, "postgres"), autocommit=True
        ) as conn:
            # A slot left by an earlier standby of this number holds WAL for no one.
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s AND NOT active",
                [slot],
            )
        _log(f"copying the primary into standby {self.replica} ({self.pgdata})")
        # The password goes in the environment of pg_basebackup only; -R writes it into the
        # standby's postgresql.auto.conf (mode 0600, in a directory only its owner reads).
        env = {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": self._password()}
        self._run(
            [
                str(self.bin / "pg_basebackup"),
                *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
                *("-D", str(self.pgdata), "-R", "-X", "stream", "-C", "-S", slot),
                *("-c", "fast", "--no-password"),
            ],
            env=env,
        )

    def up(self) -> None:
        self._prepare_dirs()
        if not self.initialised():
            if self.replica:
                self._base_backup()
            else:
                self._initdb()
        self._write_config()
        if not self.running():
            _log(f"starting PostgreSQL on 127.0.0.1:{self.port} (log: {self.logfile})")
            self.logfile.touch(mode=LOG_MODE)
            os.chmod(self.logfile, LOG_MODE)  # (a log made before, as 0644, too)
            owner = self._owner()
            if owner is not None:
                os.chown(self.logfile, owner.pw_uid, owner.pw_gid)
            start = [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.logfile)]
            try:
                self._run([*start, "-w", "-t", "120", "start"])
            except DatabaseUnavailable as e:  # pg_ctl says only "examine the log": show it
                tail = self.logfile.read_text(errors="replace").splitlines()[-15:]
                raise DatabaseUnavailable(f"{e}\n{self.logfile}:\n" + "\n".join(tail)) from e
        else:  # running already: what citybrain.conf says now takes effect where it can
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "reload"], check=False)
            if self.logfile.exists():
                os.chmod(self.logfile, LOG_MODE)
        self._no_trust()

    def down(self) -> bool:
        if not self.running():
            return False
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        return True


def _hba_method(line: str) -> str | None:
    """The authentication method of a pg_hba.conf line (None for comments and blanks)."""
    words = line.split("#", 1)[0].split()
    return words[-1] if words else None


# --- the public entry points -----------------------------------------------------------------


def _ensure_database_and_extensions(settings: Settings) -> None:
    url = make_url(settings.sqlalchemy_url)
    dbname = url.database or "citybrain"
    deadline = time.monotonic() + 30
    while not _can_connect(conninfo(settings, "postgres")):
        if time.monotonic() > deadline:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {url.host}:{url.port}; is it running?"
            )
        time.sleep(0.5)
    with psycopg.connect(conninfo(settings, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            _log(f"creating database {dbname}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        available = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)", [list(EXTENSIONS)]
            )
        }
        for name in EXTENSIONS:
            if name in available:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name))
                )
            elif name in REQUIRED_EXTENSIONS:
                raise DatabaseUnavailable(
                    f"{name} is not installed on the server of {dbname}: install "
                    f"{EXTENSIONS[name].format(major='<version>')} there"
                )


def up(settings: Settings) -> str:
    """Make the configured database reachable, with PostGIS; return its SQLAlchemy URL."""
    if settings.embedded:
        version = ensure_packages(settings)
        EmbeddedCluster(settings, version).up()
    _ensure_database_and_extensions(settings)
    return settings.sqlalchemy_url


def secret_in(path: Path) -> str:
    """The password kept in ``path``, made once (192 random bits) into a file only the user
    who runs citybrain may read."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(24) + "\n")
    return path.read_text().strip()


def ensure_server_login(settings: Settings) -> None:
    """The login of the server's request connections, made by the owner once the schema is
    migrated: one that owns nothing and is a member of the server role only, so that its
    connections cannot become more than the server role, not even by ``SET ROLE NONE``.

    In the embedded cluster: ``SERVER_LOGIN``, its password in ``server.password`` (0600),
    given again on every call. With ``CITYBRAIN_SERVER_DATABASE_URL``: the URL's user and
    password, made when no such role exists (an existing role is left as it is; the server's
    start-up check refuses it if it is privileged). Otherwise nothing: requests log in as the
    database URL's user and act as the server role."""
    from citybrain.db.pools import make_server_login

    if settings.server_database_url:
        url = make_url(settings.server_database_url)
        if not url.username or not url.password:
            raise InvalidInput("CITYBRAIN_SERVER_DATABASE_URL names no user and password")
        with psycopg.connect(libpq_conninfo(settings.direct_sqlalchemy_url), autocommit=True) as c:
            if not c.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [url.username]
            ).fetchone():
                make_server_login(c, settings, url.username, url.password)
        return
    if settings.embedded:
        password = secret_in(settings.server_password_file)
        importing = secret_in(settings.import_password_file)
        with psycopg.connect(libpq_conninfo(settings.sqlalchemy_url), autocommit=True) as c:
            make_server_login(c, settings, SERVER_LOGIN, password)
            make_import_login(c, IMPORT_LOGIN, importing)


def make_import_login(conn: psycopg.Connection, login: str, password: str) -> None:
    """Make ``login`` (run by the owner), or give it ``password`` again: the login of imports
    through the API, a member of ``citybrain_importer`` only (migration 0017), acting as it."""
    name = sql.Identifier(login)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login]).fetchone()
    if exists:
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT citybrain_importer TO {}").format(name))
    else:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE citybrain_importer").format(
                name, sql.Literal(password)
            )
        )
    conn.execute(sql.SQL("ALTER ROLE {} SET role = 'citybrain_importer'").format(name))


def ensure_up(settings: Settings) -> str:
    """Like :func:`up`, but returns at once when the database already answers."""
    if _can_connect(conninfo(settings)):
        return settings.sqlalchemy_url
    return up(settings)


def down(settings: Settings) -> bool:
    if not settings.embedded:
        raise DatabaseUnavailable("CITYBRAIN_DATABASE_URL is set: citybrain does not manage it")
    versions = installed_versions()
    return EmbeddedCluster(
        settings, settings.pg_version or (versions[-1] if versions else None)
    ).down()


def up_replica(settings: Settings, n: int = 1) -> str:
    """Start the n-th streaming standby of the embedded cluster (made by a base backup the
    first time); return its SQLAlchemy URL, for ``CITYBRAIN_REPLICA_URLS``."""
    if not settings.embedded:
        raise DatabaseUnavailable(
            "CITYBRAIN_DATABASE_URL is set: make standbys of that server with its own tools "
            "(pg_basebackup -R) and list them in CITYBRAIN_REPLICA_URLS"
        )
    if n < 1:
        raise DatabaseUnavailable(f"standbys are numbered from 1, not {n}")
    up(settings)
    primary = EmbeddedCluster(settings, ensure_packages(settings))
    EmbeddedCluster(settings, primary.version, replica=n).up()
    return replica_url(settings, n)


def down_replica(settings: Settings, n: int = 1) -> bool:
    if not settings.embedded:
        raise DatabaseUnavailable("CITYBRAIN_DATABASE_URL is set: citybrain does not manage it")
    versions = installed_versions()
    version = settings.pg_version or (versions[-1] if versions else None)
    return EmbeddedCluster(settings, version, replica=n).down()


def replica_url(settings: Settings, n: int) -> str:
    """The SQLAlchemy URL of the n-th standby of the embedded cluster."""
    return (
        make_url(settings.sqlalchemy_url)
        .set(port=settings.pg_port + n)
        .render_as_string(hide_password=False)
    )


def status(settings: Settings) -> ClusterStatus:
    url = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    reachable = _can_connect(conninfo(settings))
    if not settings.embedded:
        return ClusterStatus("external", url, reachable, "CITYBRAIN_DATABASE_URL")
    versions = installed_versions()
    cluster = EmbeddedCluster(settings, settings.pg_version or (versions[-1] if versions else None))
    detail = f"data directory {cluster.pgdata}" + (
        "" if cluster.initialised() else " (not created)"
    )
    return ClusterStatus("embedded", url, reachable, detail)
