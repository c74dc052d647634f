"""API keys: made by the service (192 random bits, shown once), stored as their SHA-256 with a
name and a role, revoked without a restart. ``CITYBRAIN_API_KEYS`` still bootstraps keys from
the environment (named ``env-<role>-<n>``).

A presented key is hashed and compared with every stored hash by ``hmac.compare_digest``
(constant time). Servers keep the keys in memory and read the table
again at most once a second, so a new or revoked key takes effect within a second everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from citybrain.domain import COUNTY_CODE, KEY_ROLES
from citybrain.errors import Conflict, InvalidInput, NotFound
from citybrain.people.caller import Area
from citybrain.sql import load

ROLES = KEY_ROLES
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
PREFIX = "cb_"  # makes a leaked key easy to recognise (and to search logs and repositories for)
REFRESH_S = 1.0


@dataclass(frozen=True)
class Key:
    name: str
    role: str
    area: Area = Area(COUNTY_CODE)  # where it acts (migration 0019; the county unless said)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(24)  # 24 bytes: 192 bits


def create(conn: psycopg.Connection, role: str, name: str, area: Area | None = None) -> str:
    """A new key for ``role`` named ``name`` acting in ``area`` (default: the county):
    returned once, stored only as its hash."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r}: one of {', '.join(ROLES)}")
    if not NAME.match(name):
        raise InvalidInput(f"name {name!r}: 1-64 letters, digits and _ . @ -")
    area = area or Area(COUNTY_CODE)
    key = new_key()
    try:
        conn.execute(
            load("keys/create"),
            {
                "name": name,
                "role": role,
                "hash": digest(key),
                "area_code": area.code,
                "area_level": area.level,
                "town_id": area.town_id,
                "village_id": area.village_id,
                "grid_id": area.grid_id,
            },
        )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"a key named {name!r} exists: revoke it or choose another name") from exc
    return key


def revoke(conn: psycopg.Connection, name: str) -> None:
    row = conn.execute(load("keys/revoke"), {"name": name}).fetchone()
    if row is None:
        raise NotFound(f"no key named {name!r} in use")


def listed(conn: psycopg.Connection) -> list[tuple]:
    """(name, role, created_at, revoked_at) of every key."""
    return conn.execute(load("keys/listed")).fetchall()


def from_environment(value: str) -> dict[bytes, Key]:
    """``role:key`` pairs (comma-separated), by hash. Checked by Settings already."""
    out: dict[bytes, Key] = {}
    counts: dict[str, int] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        role, _, key = pair.partition(":")
        counts[role] = counts.get(role, 0) + 1
        out[digest(key.strip())] = Key(f"env-{role}-{counts[role]}", role)
    return out


class KeyRing:
    """The keys a server process accepts: the environment's and the table's."""

    def __init__(self, environment: str) -> None:
        self.environment = from_environment(environment)
        self.stored: dict[bytes, Key] = {}
        self.read_at = float("-inf")

    async def find(self, pool: AsyncConnectionPool, key: str) -> Key | None:
        if time.monotonic() - self.read_at > REFRESH_S:
            async with pool.connection() as conn:
                await self.refresh(conn)
        wanted = digest(key)
        found = None
        # Every key compared, each in constant time: how long this takes says nothing about
        # which key, or how much of one, matched.
        for keys in (self.environment, self.stored):
            for stored, who in keys.items():
                if hmac.compare_digest(stored, wanted):
                    found = who
        return found

    async def refresh(self, conn: AsyncConnection) -> None:
        try:
            rows = await (await conn.execute(load("keys/in_use"))).fetchall()
        except psycopg.errors.UndefinedTable:  # a database not migrated yet: no stored keys
            rows = []
        self.stored = {
            bytes(h): Key(n, r, Area(code, level, town, village, grid))
            for h, n, r, code, level, town, village, grid in rows
        }
        self.read_at = time.monotonic()
