"""Where a request reads: the primary, or a streaming standby (``CITYBRAIN_REPLICA_URLS``)
that has replayed everything the caller has seen written.

The promises:

- **Read-your-writes.** Every write answer carries ``Citybrain-LSN``: the primary's WAL insert
  position taken after the write committed, so at or past its commit record. A read that sends
  it back goes to a replica only if that replica has replayed at least that far (as last
  measured, or asked of the replica on the connection it would use); otherwise the primary
  answers. A read without it may be answered by any replica within the lag bound.
- **Bounded staleness.** Each process measures every ``CITYBRAIN_REPLICA_CHECK_S`` how far each
  replica is behind: the age of the oldest primary WAL position it has not replayed yet (0 when
  it has replayed all the primary had). A replica further behind than
  ``CITYBRAIN_REPLICA_MAX_LAG_S``, or that does not answer, or that is no longer in recovery
  (promoted: it is no one's standby), takes no reads until a check finds it well again.
- **No failed reads for a replica's sake.** A replica that refuses a connection is passed over;
  a read it cannot finish (a query cancelled by a recovery conflict, the replica going away) is
  answered again by the primary (``api.reads``).

A node answers from one snapshot per statement, as the primary does; the caches keyed by what a
node shows (tile versions, the heat index's snapshot) stay exact whichever node feeds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from citybrain import metrics
from citybrain.db.pools import direct_conninfo, request_conninfo, request_pool, unsafe_reasons
from citybrain.errors import InvalidInput
from citybrain.settings import Settings

log = logging.getLogger("citybrain")

PRIMARY = "primary"
LSN_HEADER = "Citybrain-LSN"
NODE_HEADER = "Citybrain-Node"
CHECKOUT_S = 1.0  # longest a read waits for a replica's connection before the primary answers


def parse_lsn(text: str) -> int:
    """A WAL position as PostgreSQL writes it (``16/B374D848``), as a number."""
    high, sep, low = text.strip().partition("/")
    try:
        if not sep or not (0 < len(high) <= 8 and 0 < len(low) <= 8):
            raise ValueError
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise InvalidInput(
            f"{LSN_HEADER} must be a WAL position as a write answer gave it (like 16/B374D848), "
            f"not {text[:40]!r}"
        ) from None


async def _connect(conninfo: str) -> AsyncConnection:
    return await AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=2)


async def _drop(conn: AsyncConnection | None) -> None:
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            await conn.close()


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass(eq=False)
class Replica:
    name: str  # replica<n>, its place in CITYBRAIN_REPLICA_URLS: what answers and metrics say
    where: str  # host:port/database, no credentials: what the logs say
    conninfo: str  # a request connection's, for the checks (on a connection of their own)
    pool: AsyncConnectionPool
    replayed: int = 0  # the WAL position it had replayed when last asked
    lag_s: float = float("inf")
    answering: bool = False
    in_recovery: bool = True
    # Its request connections least-privileged and bounded, as the primary's must be (None:
    # not asked yet; asked at the first check it answers).
    safe: bool | None = None
    probe: AsyncConnection | None = None

    def usable(self, max_lag_s: float) -> bool:
        return bool(self.answering and self.in_recovery and self.safe and self.lag_s <= max_lag_s)


@dataclass(eq=False)
class ReadNodes:
    """The primary's pool and the replicas of one server process, and the task that keeps
    measuring them."""

    settings: Settings
    primary: callable  # () -> the primary's pool (renewed after an outage)
    replicas: list[Replica] = field(default_factory=list)
    _history: deque = field(default_factory=lambda: deque(maxlen=4096))  # (time, primary LSN)
    _turn: itertools.count = field(default_factory=itertools.count)
    _task: asyncio.Task | None = None

    _probe: AsyncConnection | None = None  # to the primary, for its WAL position

    @classmethod
    def from_settings(cls, settings: Settings, primary) -> ReadNodes:
        replicas = []
        for n, url in enumerate(settings.replicas, start=1):
            u = make_url(url)
            where = f"{u.host or '127.0.0.1'}:{u.port or 5432}/{u.database or ''}"
            info = request_conninfo(settings, url, name="citybrain-replica-check")
            replicas.append(Replica(f"replica{n}", where, info, request_pool(settings, url)))
        return cls(settings, primary, replicas)

    # --- life --------------------------------------------------------------------------------

    async def start(self) -> None:
        for replica in self.replicas:
            # Not waiting: a replica that is down must not keep the server from starting.
            await replica.pool.open(wait=False)
        if self.replicas:
            await self.check()
            self._task = asyncio.create_task(self._check_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for conn in (self._probe, *(r.probe for r in self.replicas)):
            await _drop(conn)
        for replica in self.replicas:
            await replica.pool.close(timeout=2)

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.replica_check_s)
            try:
                await self.check()
            except Exception:  # a check must never end the checking
                log.exception("checking the read replicas failed")

    async def check(self) -> None:
        """Measure the primary's WAL position and how far each replica has replayed it, each
        on a connection of the checks' own (a busy pool must not look like a dead node)."""
        try:
            if self._probe is None or self._probe.closed:
                self._probe = await _connect(direct_conninfo(self.settings, "citybrain-check"))
            row = await (await self._probe.execute("SELECT pg_current_wal_lsn()::text")).fetchone()
            self._history.append((time.monotonic(), parse_lsn(row[0])))
        except psycopg.Error:  # the primary is away: lags are measured against what it last had
            await _drop(self._probe)
            self._probe = None
        await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def _check(self, replica: Replica) -> None:
        was = replica.usable(self.settings.replica_max_lag_s)
        try:
            if replica.probe is None or replica.probe.closed:
                replica.probe = await _connect(replica.conninfo)
            if replica.safe is None:
                reasons = await unsafe_reasons(replica.probe, self.settings)
                replica.safe = not reasons
                if reasons:
                    log.error(
                        "read replica %s takes no reads: its request connections are not safe "
                        "to serve with: %s",
                        replica.where,
                        "; ".join(reasons),
                    )
            cur = await replica.probe.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
            )
            row = await cur.fetchone()
        except psycopg.Error as exc:
            await _drop(replica.probe)
            replica.probe = None
            replica.answering, replica.lag_s = False, float("inf")
            if was:
                log.warning(
                    "read replica %s does not answer (%s)", replica.where, type(exc).__name__
                )
        else:
            replica.answering, replica.in_recovery = True, bool(row[0])
            replica.replayed = parse_lsn(row[1]) if row[1] else 0
            replica.lag_s = self._lag(replica.replayed)
            if was and not replica.in_recovery:
                log.warning(
                    "read replica %s is no longer a standby: no reads go to it", replica.where
                )
        usable = replica.usable(self.settings.replica_max_lag_s)
        if usable and not was:
            log.info("read replica %s takes reads (%.2f s behind)", replica.where, replica.lag_s)
        elif was and not usable and replica.answering and replica.in_recovery:
            log.warning("read replica %s is %.1f s behind: skipped", replica.where, replica.lag_s)
        metrics.REPLICA_UP.labels(replica.name).set(int(usable))
        metrics.REPLICA_LAG.labels(replica.name).set(min(replica.lag_s, 1e9))
        metrics.sample_pool(replica.name, replica.pool)  # (its reads' connections, lent or not)

    def _lag(self, replayed: int) -> float:
        """Seconds since the primary first had a WAL position the replica has not replayed."""
        now = time.monotonic()
        while len(self._history) > 1 and now - self._history[0][0] > 2 * (
            self.settings.replica_max_lag_s + self.settings.replica_check_s
        ):
            self._history.popleft()  # older than any lag worth telling apart
        behind = [t for t, lsn in self._history if lsn > replayed]
        return now - behind[0] if behind else 0.0

    # --- reads -------------------------------------------------------------------------------

    def _candidates(self, lsn: int | None) -> list[Replica]:
        usable = [r for r in self.replicas if r.usable(self.settings.replica_max_lag_s)]
        if not usable:
            return []
        start = next(self._turn) % len(usable)
        usable = usable[start:] + usable[:start]  # round robin
        # Replicas known to have the caller's writes first, then the others (asked live).
        return sorted(usable, key=lambda r: lsn is not None and r.replayed < lsn)

    @asynccontextmanager
    async def connection(
        self, lsn: int | None = None, primary_only: bool = False
    ) -> AsyncIterator[tuple[AsyncConnection, str]]:
        """A connection for a read and the node it goes to: a usable replica that has replayed
        ``lsn`` (when given), else the primary."""
        if not primary_only:
            for replica in self._candidates(lsn):
                conn = await self._borrow(replica, lsn)
                if conn is None:
                    continue
                try:
                    metrics.READS.labels(replica.name).inc()
                    yield conn, replica.name
                finally:
                    await replica.pool.putconn(conn)
                return
        async with self.primary().connection() as conn:
            metrics.READS.labels(PRIMARY).inc()
            yield conn, PRIMARY

    async def _borrow(self, replica: Replica, lsn: int | None) -> AsyncConnection | None:
        """A connection of ``replica`` that has replayed ``lsn``, or None (its pool busy or
        failing: the primary answers; whether the replica is well is for the checks to say)."""
        try:
            conn = await replica.pool.getconn(timeout=CHECKOUT_S)
        except psycopg.Error:  # (a PoolTimeout is one)
            return None
        try:
            if lsn is None or replica.replayed >= lsn:
                return conn
            cur = await conn.execute("SELECT pg_last_wal_replay_lsn()::text")
            (text,) = await cur.fetchone()
            replica.replayed = max(replica.replayed, parse_lsn(text) if text else 0)
            if replica.replayed >= lsn:
                return conn
        except psycopg.Error:
            pass
        except BaseException:  # (cancelled: the connection must not be lost)
            await replica.pool.putconn(conn)
            raise
        await replica.pool.putconn(conn)
        return None

    def status(self) -> list[dict]:
        """Each replica as the last check found it (``/readyz``)."""
        return [
            {
                "replica": r.name,
                "where": r.where,
                "takes_reads": r.usable(self.settings.replica_max_lag_s),
                "answering": r.answering,
                "standby": r.in_recovery,
                "lag_s": round(r.lag_s, 3) if r.lag_s != float("inf") else None,
            }
            for r in self.replicas
        ]
