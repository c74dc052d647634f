"""How the server connects: the request pools of one process (to the primary, and to each read
replica), the direct connections that must not share a pooler's server connections, and what
every request connection is (bounded, unprivileged).

Invariants:

- Every request connection is **bounded** (no statement runs longer than
  ``CITYBRAIN_STATEMENT_TIMEOUT_MS``) and **unprivileged** (it acts as ``CITYBRAIN_SERVER_ROLE``,
  which owns nothing and may not edit the audit trail; migration 0014). Straight to PostgreSQL
  (``CITYBRAIN_POOLER=none``) the connection says so itself, in its startup ``options``. Through
  PgBouncer in transaction mode (``CITYBRAIN_POOLER=pgbouncer``) it cannot: PgBouncer refuses
  startup parameters it does not know, and ``ignore_startup_parameters=options`` would drop the
  role and the deadline without a word. There the pooler's login must itself be least-privileged
  and bounded (``ALTER ROLE ... SET role``, ``SET statement_timeout``: settings of the login,
  which no ``RESET`` or ``DISCARD ALL`` undoes), and ``check_request_connections`` refuses to
  start a server whose pooled connections are not (docs/pgbouncer.md).
- Nothing a request does relies on session state: each transaction may run on another of the
  pooler's server connections. So pooled connections prepare no statements (PgBouncer before
  1.21 does not carry prepared statements across server connections); and what needs a session
  of its own — the live events' ``LISTEN``, the alert runner's session-level advisory lock —
  connects to ``CITYBRAIN_DIRECT_DATABASE_URL`` (``direct_conninfo``), never to the pooler.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from citybrain.db.connection import libpq_conninfo
from citybrain.errors import CitybrainError
from citybrain.settings import Settings

log = logging.getLogger("citybrain")


class UnsafeConnections(CitybrainError):
    """The request connections are not what every request must be (privileged or unbounded):
    the server does not start."""

    code = "unsafe_connections"


def pooled(settings: Settings, url: str | None = None) -> bool:
    """Whether connections to ``url`` (default: the database URL) go through a
    transaction-mode pooler (``CITYBRAIN_POOLER``; it stands in front of the database URL only)."""
    return settings.pooler != "none" and (url is None or url == settings.database_url)


def session_options(settings: Settings) -> str:
    """What every request connection is: bounded (no statement runs longer than the deadline)
    and unprivileged (it acts as the server role, which owns nothing and may not edit the
    audit trail; migration 0014)."""
    options = f"-c statement_timeout={settings.statement_timeout_ms}"
    if settings.server_role:
        options += f" -c role={settings.server_role}"
    return options


def request_conninfo(settings: Settings, url: str | None = None, name: str = "citybrain") -> str:
    """The libpq string of a request connection to ``url`` (default: the primary). Through a
    pooler it carries no ``options``: the pooler's login is bounded and unprivileged itself."""
    if pooled(settings, url):
        return libpq_conninfo(url or settings.sqlalchemy_url, application_name=name)
    return libpq_conninfo(
        url or settings.request_sqlalchemy_url,
        application_name=name,
        options=session_options(settings),
    )


def direct_conninfo(settings: Settings, name: str, bounded: bool = False) -> str:
    """A server's connection to the primary itself, never through the pooler (``LISTEN``,
    session locks), as ``Settings.server_direct_sqlalchemy_url`` says; ``bounded``: and with
    the request connections' role and deadline."""
    url = settings.server_direct_sqlalchemy_url
    if bounded:
        return libpq_conninfo(url, application_name=name, options=session_options(settings))
    return libpq_conninfo(url, application_name=name)


def request_pool(settings: Settings, url: str | None = None) -> AsyncConnectionPool:
    """The request connections of one server process to ``url`` (default: the primary),
    opened by the caller."""
    # Autocommit: a read is one round trip (no BEGIN, no COMMIT when the connection goes
    # back), and a write commits inside its own `conn.transaction()` block, before the
    # handler returns, never later in the pool's clean-up.
    kwargs: dict = {"autocommit": True}
    if pooled(settings, url):
        # psycopg prepares a statement run 5 times on its connection; through PgBouncer in
        # transaction mode the next run may land on a server connection that never saw it
        # ("prepared statement _pg3_0 does not exist"). PgBouncer 1.21+ can carry protocol-
        # level prepared statements (max_prepared_statements); Debian's 1.18 cannot.
        kwargs["prepare_threshold"] = None
    return AsyncConnectionPool(
        request_conninfo(settings, url),
        min_size=settings.pool_size,  # opened up front: no waiting for growth under load
        max_size=settings.pool_size,
        kwargs=kwargs,
        # A request waits this long for a connection, then gets 503 (bounded work).
        timeout=settings.pool_timeout_s,
        open=False,
    )


# Who a request connection is, what it may do, and how long a statement may run. The
# privileges are asked of the login (session_user) as well as of the role it acts as: a
# session may leave its role (SET ROLE NONE), and through a pooler the next transaction
# inherits what the last one did.
_WHO = """
SELECT current_user, session_user, t.setting::bigint, t.source,
       r.rolname,
       -- powers held by the role or by any role it belongs to (it may SET ROLE to them)
       EXISTS (SELECT FROM pg_roles m
               WHERE pg_has_role(r.oid, m.oid, 'MEMBER')
                 AND (m.rolsuper OR m.rolcreaterole OR m.rolcreatedb OR m.rolreplication
                      OR m.rolbypassrls
                      OR m.rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                                       'pg_write_server_files'))),
       pg_has_role(r.oid, n.nspowner, 'MEMBER'),
       has_schema_privilege(r.oid, n.oid, 'CREATE'),
       has_table_privilege(r.oid, 'citybrain.incident_events', 'UPDATE, DELETE, TRUNCATE'),
       has_table_privilege(r.oid, 'citybrain.incident_events', 'INSERT')
           AND has_table_privilege(r.oid, 'citybrain.incidents', 'INSERT, UPDATE')
FROM pg_settings t, pg_namespace n, pg_roles r
WHERE t.name = 'statement_timeout' AND n.nspname = 'citybrain'
  AND r.rolname IN (current_user, session_user)
"""


async def unsafe_reasons(conn: AsyncConnection, settings: Settings) -> list[str]:
    """What is wrong with ``conn`` as a request connection (nothing: ``[]``)."""
    rows = await (await conn.execute(_WHO, prepare=False)).fetchall()
    if not rows:
        return ["the database has no citybrain schema: run `citybrain db migrate`"]
    current, login, timeout_ms, source = rows[0][:4]
    limit = settings.statement_timeout_ms
    reasons = []
    if timeout_ms == 0:
        reasons.append("statement_timeout is 0: statements may run for ever")
    elif timeout_ms > limit:
        reasons.append(
            f"statement_timeout is {timeout_ms} ms, longer than CITYBRAIN_STATEMENT_TIMEOUT_MS "
            f"({limit} ms)"
        )
    elif pooled(settings) and source == "session":
        # Set by a SET (PgBouncer's connect_query): a RESET ALL or DISCARD ALL (a pooler's
        # server_reset_query) undoes it on the next client's connection.
        reasons.append(
            "statement_timeout was set by a SET (a pooler's connect_query), which a reset "
            "undoes; set it on the login role instead"
        )
    if pooled(settings) or settings.request_sqlalchemy_url != settings.sqlalchemy_url:
        # the login and the role it acts as: a login of the server's own (the pooler's, the
        # embedded cluster's, CITYBRAIN_SERVER_DATABASE_URL) is unprivileged itself
        judged = {row[4] for row in rows}
    elif settings.server_role:
        judged = {current}  # the startup options made it act as the server role
    else:
        judged = set()  # CITYBRAIN_SERVER_ROLE empty: the login's own rights, as configured
    for row in rows:
        name, powers, owner, creates, edits_audit, writes = row[4:]
        if name not in judged:
            continue
        what = [
            text
            for text, found in (
                (
                    "is a superuser or may create roles or databases, replicate, bypass row "
                    "security or run server programs (itself or through a role it belongs to)",
                    powers,
                ),
                ("owns the schema (or is a member of its owner)", owner),
                ("may create objects in the schema", creates),
                ("may update, delete or truncate the audit trail (incident_events)", edits_audit),
            )
            if found
        ]
        if what:
            reasons.append(f"role {name} " + ", ".join(what))
        elif name == current and not writes:
            reasons.append(
                f"role {name} may not write incidents and their audit trail (grant it "
                f"{settings.server_role or 'citybrain_server'})"
            )
    if reasons:
        log.debug("request connection as %s (login %s) refused: %s", current, login, reasons)
    return reasons


async def check_request_connections(pool: AsyncConnectionPool, settings: Settings) -> None:
    """Refuse to start (``UnsafeConnections``, naming what is wrong and how to mend it) when the
    request connections are privileged or unbounded; one query through the pool."""
    async with pool.connection() as conn:
        reasons = await unsafe_reasons(conn, settings)
    if not reasons:
        return
    if pooled(settings):
        mend = (
            f"Through {settings.pooler} (CITYBRAIN_POOLER) the pooler's login must itself be "
            "least-privileged and bounded: CREATE ROLE <login> LOGIN PASSWORD '...' IN ROLE "
            f"{settings.server_role or 'citybrain_server'}; ALTER ROLE <login> SET role = "
            f"'{settings.server_role or 'citybrain_server'}'; ALTER ROLE <login> SET "
            f"statement_timeout = {settings.statement_timeout_ms}; and the pooler logs in as "
            "it (docs/pgbouncer.md)."
        )
    else:
        mend = "CITYBRAIN_SERVER_ROLE must name a role that owns nothing (citybrain_server)."
    raise UnsafeConnections(
        "the server's request connections are not safe to serve with: "
        + "; ".join(reasons)
        + ". "
        + mend
    )


def make_server_login(
    conn: psycopg.Connection, settings: Settings, login: str, password: str
) -> None:
    """Make ``login`` (run by the owner), or give it ``password`` again: a role for the
    server's request connections to log in as, straight or through a transaction-mode pooler.
    It owns nothing, is a member of the server role only, acts as it from the start, and
    carries the statement deadline, all as settings of the login, which no ``RESET`` or
    ``DISCARD ALL`` undoes."""
    role = sql.Identifier(settings.server_role or "citybrain_server")
    name = sql.Identifier(login)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login]).fetchone()
    made = (
        [
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(password)),
            sql.SQL("GRANT {} TO {}").format(role, name),
        ]
        if exists
        else [
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                name, sql.Literal(password), role
            )
        ]
    )
    for statement in (
        *made,
        sql.SQL("ALTER ROLE {} SET role = {}").format(
            name, sql.Literal(settings.server_role or "citybrain_server")
        ),
        sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
            name, sql.Literal(str(settings.statement_timeout_ms))
        ),
    ):
        conn.execute(statement)
