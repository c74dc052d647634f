"""Admission control for heavy answers (a heatmap or Gi* over the county, a tile no cache holds,
an OGC page): lookups, dispatch and writes never wait here; heavy answers take turns, twice.

- In the process: at most ``CITYBRAIN_HEAVY_SLOTS`` at once; the others wait holding no database
  connection, at most 32 a slot (past that, 503 at once).
- In the deployment: at most ``CITYBRAIN_HEAVY_SLOTS_DATABASE`` at once across every server
  process on the database, each slot a PostgreSQL advisory lock held by a transaction of the
  gate's while the answer is built. A transaction's lock, not a session's: through PgBouncer in
  transaction mode a session lock would stay on a server connection that other clients get
  next (``CITYBRAIN_POOLER``), while a transaction's ends with it, whatever happens. CPU is
  what a flood of heavy reads takes from dispatch: the database's (tiles, OGC pages) and the
  workers' (heatmaps, Gi*, GeoJSON). Measured on two cores: four heavy queries at once put
  /locate's p99 at 63 ms, one at a time at 14.5 ms (8 ms without load); leaving the heatmaps
  out of this gate put /locate's p99 on the public port at 19.8 s instead of 0.27 s, and on
  the dispatch port raised it by a quarter (bench/isolation.py).

A request that gets no turn within ``CITYBRAIN_HEAVY_WAIT_S`` is answered 503 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from citybrain.errors import Busy
from citybrain.sql import load

QUEUE_PER_SLOT = 32
LOCK_SPACE = 0x63627261  # 'cbra': the first key of citybrain's advisory locks
POLL_S = 0.02  # how often a waiting request asks the database for a free slot


class Gate:
    def __init__(
        self,
        slots: int,
        wait_s: float,
        database_slots: int = 0,
        pool: Callable[[], AsyncConnectionPool] | None = None,
    ):
        self.slots, self.wait_s, self.database_slots = slots, wait_s, database_slots
        self._pool = pool
        self._free = asyncio.Semaphore(slots)
        self.waiting = 0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a slot of the process and one of the deployment for the block; ``Busy`` (503)
        when none frees in time."""
        if self._free.locked() and self.waiting >= self.slots * QUEUE_PER_SLOT:
            raise self._busy(f"{self.waiting} heavy requests are already waiting")
        deadline = time.monotonic() + self.wait_s
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self._free.acquire()
        except TimeoutError:
            raise self._busy(f"no turn came within {self.wait_s:g} s") from None
        finally:
            self.waiting -= 1
        try:
            if not self.database_slots or self._pool is None:
                yield
                return
            async with self._pool().connection() as conn:
                while True:
                    async with conn.transaction():
                        if await self._database_slot(conn):
                            yield  # (in the transaction: its end frees the slot)
                            return
                    await self._wait_for_slot(deadline)  # (holding no transaction)
        finally:
            self._free.release()

    async def _database_slot(self, conn: AsyncConnection) -> bool:
        """Take a free slot of the database for the transaction under way, if there is one."""
        for slot in range(self.database_slots):
            cur = await conn.execute(load("admission/take"), {"space": LOCK_SPACE, "slot": slot})
            if (await cur.fetchone())[0]:
                return True
        return False

    async def _wait_for_slot(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._busy(
                f"the database's {self.database_slots} heavy slot(s) stayed taken for "
                f"{self.wait_s:g} s"
            )
        await asyncio.sleep(min(POLL_S, left))  # (and a last try at the deadline)

    def _busy(self, why: str) -> Busy:
        retry = max(1, math.ceil(self.wait_s))
        return Busy(
            f"the server is building as many heavy answers as it may ({self.slots} at once per "
            f"process) and {why}: retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
