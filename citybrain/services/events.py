"""Live updates: one ``LISTEN citybrain_incidents`` connection per server process, fanned out to
every open event stream. PostgreSQL delivers a notification when its writer commits, whichever
process (or program) wrote."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

log = logging.getLogger(__name__)
CHANNEL = "citybrain_incidents"
QUEUE_SIZE = 1000


class EventHub:
    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.connected = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="citybrain-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        delay = 0.5
        while True:  # the database may restart: listen again, backing off
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    delay = 0.5
                    async for note in conn.notifies():
                        self.publish(note.payload)
            except psycopg.OperationalError as exc:
                self.connected.clear()
                log.warning("event listener lost the database (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    def publish(self, payload: str) -> None:
        for queue in self.subscribers:
            if queue.full():  # a slow screen loses the oldest news, not the newest
                queue.get_nowait()
            queue.put_nowait(payload)

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.subscribers.discard(queue)
