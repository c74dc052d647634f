"""The caller as the database sees it: who is asking, named on each transaction that reads or
writes a case file, an account or the access log, so that row-level security (migration 0019)
decides which rows it may touch.

The identity is set with ``set_config(..., true)``, local to the transaction: it ends with the
transaction, whatever a route does or forgets, and a pooled connection carries nothing to the
next request. A connection with no identity set sees no case file at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg import AsyncConnection

from citybrain.domain import Actor

SQL = Path(__file__).resolve().parent / "sql"  # the people package's statements

# The settings row-level security reads (citybrain.caller_role(), caller_int(...)).
_SET = (
    "SELECT set_config('citybrain.role', %(role)s, true), "
    "set_config('citybrain.user_id', %(user_id)s, true), "
    "set_config('citybrain.area_level', %(area_level)s, true), "
    "set_config('citybrain.area_id', %(area_id)s, true), "
    "set_config('citybrain.team_id', %(team_id)s, true), "
    "set_config('citybrain.department_id', %(department_id)s, true)"
)


@dataclass(frozen=True)
class Area:
    """An area: its code and level, and the ids of the town, village and grid it is or lies
    in (None below its level); the county has none."""

    code: str
    level: str = "county"
    town_id: int | None = None
    village_id: int | None = None
    grid_id: int | None = None

    @property
    def id(self) -> int | None:
        """Its id in its level's table (None: the county)."""
        return {"town": self.town_id, "village": self.village_id, "grid": self.grid_id}.get(
            self.level
        )


@dataclass(frozen=True)
class Caller:
    """Who asks, for the database: a person role (None: nobody, who sees no case file), the
    account (keys have none), the area and, for members, the team; for handlers, the
    department."""

    role: str | None
    area: Area
    user_id: int | None = None
    team_id: int | None = None
    department_id: int | None = None

    def settings(self) -> dict[str, str]:
        def text(value) -> str:
            return "" if value is None else str(value)

        return {
            "role": text(self.role),
            "user_id": text(self.user_id),
            "area_level": self.area.level if self.role else "",
            "area_id": text(self.area.id),
            "team_id": text(self.team_id),
            "department_id": text(self.department_id),
        }


@dataclass(frozen=True)
class Who:
    """Who asks, for a service: as the database sees them (``caller``), as the audit trail
    names them (``actor``: name, role, business time), whether personal data is shown to them
    unmasked, and the route they ask through (the access log records it)."""

    caller: Caller
    actor: Actor
    sees_personal: bool = False
    route: str = ""


@asynccontextmanager
async def acting_as(conn: AsyncConnection, caller: Caller) -> AsyncIterator[AsyncConnection]:
    """A transaction on ``conn`` in which the database knows ``caller``."""
    async with conn.transaction():
        await conn.execute(_SET, caller.settings())
        yield conn
