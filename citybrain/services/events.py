"""Live updates: one listening connection per server process, fanned out to every open event
stream. PostgreSQL delivers a notification when its writer commits, whichever process (or
program) wrote: on ``citybrain_incidents`` each incident of a small write (event ``incident``),
on ``citybrain_incidents_bulk`` one summary of a large one (event ``bulk``; migration 0011).

With read replicas (``db.replicas``) each event also carries ``lsn``: the primary's WAL
position after the write that it tells of committed. A screen that sends it back
(``Citybrain-LSN``) with the reads the event prompts is never shown the state before that
write by a replica that has not replayed it yet.

What a stream may have missed is said, never hidden: when the listening connection comes back
after losing the database (notifications sent meanwhile are gone), and when a slow screen's
queue overflows, the stream gets ``resync`` — reload everything — instead of a silent gap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import orjson
import psycopg
from psycopg import sql

from citybrain.metrics import SSE_SUBSCRIBERS
from citybrain.sql import load

log = logging.getLogger(__name__)
CHANNELS = {
    "citybrain_incidents": "incident",
    "citybrain_incidents_bulk": "bulk",
    "citybrain_alerts": "alert",  # an alert raised or changed (migration 0015)
}
QUEUE_SIZE = 1000
Event = tuple[str, str]  # (SSE event name, JSON payload)
RESYNC_DATABASE: Event = ("resync", '{"reason": "database"}')
RESYNC_OVERFLOW: Event = ("resync", '{"reason": "overflow"}')


class EventHub:
    """``on_back``: awaited when the listener reconnects after losing the database, before the
    streams are told to resync (the server renews its pool there)."""

    def __init__(self, conninfo: str, on_back: Callable[[], Awaitable[None]] | None = None):
        self.conninfo = conninfo
        self.on_back = on_back
        self.subscribers: set[asyncio.Queue[Event]] = set()  # the open event streams
        self.watchers: set[asyncio.Queue[Event]] = set()  # the server's own (alert detectors)
        self._clients: dict[asyncio.Queue[Event], str] = {}
        self._per_client: Counter[str] = Counter()
        self.connected = asyncio.Event()
        # Set when replicas serve reads: each event carries ``lsn``, read on a connection of
        # the listener's own beside the listening one.
        self.stamp = False
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
        delay, lost = 0.5, False
        while True:  # the database may restart: listen again, backing off
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    for channel in CHANNELS:
                        # assembled: LISTEN takes no parameter; the channel, one of ours, quoted
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self.connected.set()
                    delay = 0.5
                    if lost:  # what was written while we were away was never heard
                        log.warning("the database is back: streams told to resync")
                        if self.on_back is not None:
                            await self.on_back()
                        self.publish(RESYNC_DATABASE)
                        lost = False
                    async with contextlib.AsyncExitStack() as stack:
                        position = None
                        if self.stamp:
                            position = await stack.enter_async_context(
                                await psycopg.AsyncConnection.connect(
                                    self.conninfo, autocommit=True
                                )
                            )
                        async for note in conn.notifies():
                            payload = note.payload
                            if position is not None:
                                payload = await _stamped(position, payload)
                            self.publish((CHANNELS[note.channel], payload))
            except psycopg.OperationalError as exc:
                self.connected.clear()
                lost = True
                log.warning("event listener lost the database (%s); retrying", exc)
                await asyncio.sleep(delay)
                # At most a second between attempts: this is how the server learns that the
                # database is back (one connection attempt a second costs nothing).
                delay = min(delay * 2, 1.0)

    def publish(self, event: Event) -> None:
        for queue in (*self.subscribers, *self.watchers):
            if queue.full():  # a screen too slow to keep up: it reloads instead
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC_OVERFLOW)
            queue.put_nowait(event)  # (after a resync, news is still news)

    def subscribe(self, client: str = "") -> asyncio.Queue[Event]:
        """A stream for ``client`` (who holds it: a key's name or an address; counted in
        ``streams_of``)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        self._clients[queue] = client
        self._per_client[client] += 1
        SSE_SUBSCRIBERS.inc()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        if queue in self.subscribers:
            self.subscribers.discard(queue)
            client = self._clients.pop(queue)
            self._per_client[client] -= 1
            if not self._per_client[client]:
                del self._per_client[client]
            SSE_SUBSCRIBERS.dec()
        self.watchers.discard(queue)

    def streams_of(self, client: str) -> int:
        """The streams ``client`` holds open on this process."""
        return self._per_client.get(client, 0)

    def watch(self) -> asyncio.Queue[Event]:
        """A queue of every event for the server itself (not counted as a stream)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.watchers.add(queue)
        return queue


async def _stamped(position: psycopg.AsyncConnection, payload: str) -> str:
    """The payload with ``lsn``: the primary's WAL insert position, read after the notification
    arrived, so at or past the commit that sent it."""
    cur = await position.execute(load("replicas/wal_position"))
    (lsn,) = await cur.fetchone()
    try:
        return orjson.dumps({**orjson.loads(payload), "lsn": lsn}).decode()
    except (orjson.JSONDecodeError, TypeError):
        return payload  # (not an object: told as it came)
