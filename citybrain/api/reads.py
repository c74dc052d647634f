"""A request's reads on the node ``db.replicas`` chooses, and the two things around them that
only the HTTP layer can do: stamp write answers with ``Citybrain-LSN``, and answer again on the
primary a read that a replica could not finish (before any byte of it was sent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import psycopg.errors
from psycopg import AsyncConnection
from psycopg_pool import PoolTimeout
from starlette.requests import HTTPConnection

from citybrain import metrics
from citybrain.api.state import state_of
from citybrain.db.replicas import LSN_HEADER, NODE_HEADER, PRIMARY, parse_lsn
from citybrain.sql import load

WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))
_PRIMARY_ONLY = "citybrain.primary_only"  # (scope key) this is the request's second try


async def note_write_position(request: HTTPConnection, conn: AsyncConnection) -> None:
    """Keep, for the answer's ``Citybrain-LSN``, the primary's WAL insert position as read on
    the connection that has just committed the request's write: at or past its commit."""
    cur = await conn.execute(load("replicas/wal_position"))
    request.scope.setdefault("state", {})["lsn"] = (await cur.fetchone())[0]


async def note_position_now(request: HTTPConnection) -> None:
    """``note_write_position`` for a write made on connections of its own (an import)."""
    async with state_of(request).pool.connection() as conn:
        await note_write_position(request, conn)


class ReadOnPrimary(Exception):
    """A replica failed a read: the request is answered again by the primary."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _why(exc: psycopg.Error, conn: AsyncConnection) -> str | None:
    """Why the replica's read failed, if the primary can do better; None if the error is not
    the replica's (a statement deadline, the primary's pool, the request's own fault)."""
    if isinstance(exc, PoolTimeout | psycopg.errors.QueryCanceled):
        return None
    if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        # "canceling statement due to conflict with recovery" (40001; 40P01 for buffer pins)
        if "recovery" in (exc.diag.message_primary or ""):
            return "recovery_conflict"
        return None
    if isinstance(exc, psycopg.OperationalError) and conn.broken:
        return "replica_gone"  # its connection lost: the replica stopped or went away
    return None


@asynccontextmanager
async def read_connection(request: HTTPConnection) -> AsyncIterator[AsyncConnection]:
    """A connection for the request's reads: a replica that has the caller's writes
    (``Citybrain-LSN``), or the primary."""
    asked = request.headers.get(LSN_HEADER)
    lsn = parse_lsn(asked) if asked else None
    primary_only = request.scope.get(_PRIMARY_ONLY, False)
    async with state_of(request).reads.connection(lsn, primary_only) as (conn, node):
        request.scope.setdefault("state", {})["node"] = node
        try:
            yield conn
        except psycopg.Error as exc:
            why = _why(exc, conn) if node != PRIMARY else None
            if why is None:
                raise
            raise ReadOnPrimary(why) from exc


class Reads:
    """Stamps ``Citybrain-LSN`` on successful writes (the position their connection noted)
    and ``Citybrain-Node`` on answers read from the database, and gives a read that a replica
    failed a second try on the primary (a plain ASGI middleware: one per app)."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        nodes = scope["app"].state.citybrain.reads
        started = False
        tried: list[dict] = [scope]  # the scope of the try that answers

        async def stamped(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                state = tried[-1].get("state", {})
                if (node := state.get("node")) is not None:
                    headers.append((NODE_HEADER.lower().encode(), node.encode()))
                if (lsn := state.get("lsn")) is not None and 200 <= message["status"] < 300:
                    headers.append((LSN_HEADER.lower().encode(), lsn.encode()))
                message = {**message, "headers": headers}
            await send(message)

        if not nodes.replicas or not self._replayable(scope):
            return await self.app(scope, receive, stamped)
        kept: list[dict] = []  # the body as the app read it, for a second try

        async def keeping():
            message = await receive()
            if message["type"] == "http.request":
                kept.append(message)
            return message

        try:
            await self.app(scope, keeping, stamped)
        except ReadOnPrimary as exc:
            if started:
                raise
            metrics.READ_RETRIES.labels(exc.reason).inc()
            again = {**scope, _PRIMARY_ONLY: True, "state": {}}
            tried.append(again)
            await self.app(again, replay(kept, receive), stamped)

    def _replayable(self, scope) -> bool:
        """Whether a body is small enough to keep for a second try (reads have none or a
        small one; imports are writes and never read from a replica)."""
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is None:
            return scope["method"] in ("GET", "HEAD")
        return length.isdigit() and int(length) <= self.max_body


def replay(messages: list[dict], receive):
    """A ``receive`` that gives ``messages`` first, then what the client sends next."""
    queue = list(messages)

    async def replayed():
        return queue.pop(0) if queue else await receive()

    return replayed
