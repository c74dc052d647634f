"""Running the detectors (``alerts/*.yaml``) continuously: each at its own interval, and the
ones marked ``on_change`` within seconds of a new incident.

Every server process starts a runner, but only one runs detectors at a time: the holder of a
session-level advisory lock on the database (the others try again each tick, so when the
leader's process stops, another takes over within seconds). When each detector last ran is in
``detector_runs``, so a restart does not run everything again at once. The dispatch process
never runs detectors (their CPU time is not dispatch's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from citybrain.alerts import store
from citybrain.alerts.detector import Detector, Run
from citybrain.alerts.queries import load
from citybrain.clock import Clock
from citybrain.metrics import ALERTS_RAISED, DETECTOR_RUNS
from citybrain.services.events import EventHub

log = logging.getLogger(__name__)
LOCK_KEY = 0x63627261696E  # "cbrain": the runner's advisory lock
CHANGE_EVENTS = {"incident", "bulk", "resync"}
RETRY_AFTER = timedelta(minutes=1)
# The leader's connection notices a dead peer within a minute (not TCP's two hours), so that
# the lock it holds is released on the server and another process takes over.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "20",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}


@dataclass(frozen=True)
class Ran:
    detector: str
    seconds: float
    found: int
    raised: int


def run_detector(conn: psycopg.Connection, detector: Detector, now: datetime) -> Ran:
    """Run one detector as of ``now`` and store what it found (one transaction)."""
    started = time.perf_counter()
    with conn.transaction():  # one snapshot: the totals and the recent cases agree
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        findings = Run(conn, detector, now).findings()
    with conn.transaction():
        raised = store.record(
            conn,
            findings,
            detector.id,
            now,
            [label for label, _ in detector.analyses()],
            detector.longest_window,
        )
        seconds = time.perf_counter() - started
        conn.execute(
            load("ran"),
            {
                "detector": detector.id,
                "started_at": now,
                "seconds": seconds,
                "found": len(findings),
                "raised": raised,
            },
        )
    return Ran(detector.id, seconds, len(findings), raised)


def due(
    conn: psycopg.Connection, detectors: Iterable[Detector], now: datetime, changed: bool
) -> list[Detector]:
    """The detectors whose interval has passed since their last run (and, after a change to
    the incidents, those that run on change)."""
    last = dict(conn.execute(load("last_runs")).fetchall())
    return [
        d
        for d in detectors
        if d.id not in last or now - last[d.id] >= d.every or (changed and d.on_change)
    ]


class AlertRunner:
    def __init__(
        self,
        conninfo: str,
        detectors: dict[str, Detector],
        hub: EventHub | None,
        tick_s: float = 5.0,
        debounce_s: float = 1.0,
        clock: Clock | None = None,
    ):
        self.conninfo, self.detectors, self.hub = conninfo, detectors, hub
        self.clock = clock or Clock()
        self.tick_s, self.debounce_s = tick_s, debounce_s
        self.leader = False
        self._conn: psycopg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._stopping = threading.Event()
        self._running = threading.Lock()  # held by a tick: the connection is closed after it
        self._failed: dict[str, datetime] = {}  # a detector that failed waits before again

    async def start(self) -> None:
        if self.detectors:
            self._task = asyncio.create_task(self._loop(), name="citybrain-alerts")

    async def stop(self) -> None:
        self._stopping.set()  # a tick under way finishes its detector and stops
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._running:  # (and with the connection the lock: another process takes over)
            self._drop()

    async def _loop(self) -> None:
        queue = self.hub.watch() if self.hub else asyncio.Queue()
        try:
            while True:
                changed = await self._wait(queue)
                try:
                    await asyncio.to_thread(self._tick, changed)
                except psycopg.OperationalError as exc:  # the connection: connect again
                    log.warning("alert detectors lost the database (%s); retrying", exc)
                    self._drop()
        finally:
            if self.hub:
                self.hub.unsubscribe(queue)

    async def _wait(self, queue: asyncio.Queue) -> bool:
        """Until the next tick (False), or shortly after the incidents change (True); other
        events (the alerts' own) are not changes."""
        deadline = time.monotonic() + self.tick_s
        while True:
            try:
                name, _ = await asyncio.wait_for(
                    queue.get(), timeout=max(deadline - time.monotonic(), 0)
                )
            except TimeoutError:
                return False
            if name in CHANGE_EVENTS:
                break
        await asyncio.sleep(self.debounce_s)  # a burst of reports: one run
        while not queue.empty():
            queue.get_nowait()
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn, self.leader = None, False

    def _tick(self, changed: bool) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
            self.leader = False
        if not self.leader:
            self.leader = self._conn.execute(
                "SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]
            ).fetchone()[0]
            if not self.leader:
                return
        now = self.clock.now()
        for detector in due(self._conn, self.detectors.values(), now, changed):
            try:
                ran = run_detector(self._conn, detector, now)
            except Exception:
                DETECTOR_RUNS.labels(detector.id, "failed").inc()
                raise
            DETECTOR_RUNS.labels(detector.id, "ok").inc()
            ALERTS_RAISED.labels(detector.id).inc(ran.raised)
            log.info(
                "detector %s: %d found, %d raised in %.2f s",
                ran.detector,
                ran.found,
                ran.raised,
                ran.seconds,
            )
