"""Sessions: logging in with a login and a password, who holds a token, logging out.

A session's token (``cbs_`` and 256 random bits) is shown once, to its holder, as a bearer
token for apps and in an ``HttpOnly`` cookie for the web pages; the database keeps its SHA-256
only. A cookie-borne session also has a CSRF token that the page sends back in a header on
every write (double submit; the cookie alone is never enough). A session ends at its expiry,
at logout, or at once when its account is disabled (``citybrain.caller_of_session`` reads the
account with the session, on every request).

Brute force is bounded in the database, so that every server process counts alike: past
``CITYBRAIN_LOGIN_FAILURES`` failures of one login or ``CITYBRAIN_LOGIN_FAILURES_PER_ADDRESS``
of one address within ``CITYBRAIN_LOGIN_WINDOW_S``, logins are refused (429, ``Retry-After``)
until the window has passed. An
unknown login and a wrong password get the same answer after the same work (a hash is
checked either way).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.errors import TooMany, Unauthorized
from citybrain.people import passwords
from citybrain.people.caller import SQL, Who, acting_as
from citybrain.sql import load as load_sql

TOKEN_PREFIX = "cbs_"
REFUSED = "wrong login or password"  # one answer for an unknown login and a wrong password


def load(name: str) -> str:
    return load_sql(name, SQL)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Bounds:
    """How many failed logins of one login and of one address, within which window."""

    per_login: int = 5
    per_address: int = 30
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Opened:
    """A new session: its token and CSRF token (shown once), and when it ends."""

    token: str
    csrf: str
    expires_at: datetime
    user_id: int


async def login(
    conn: AsyncConnection,
    login_name: str,
    password: str,
    address: str,
    user_agent: str | None,
    now: datetime,
    lifetime: timedelta,
    bounds: Bounds = Bounds(),
) -> Opened:
    """Open a session for the account ``login_name`` names, if ``password`` is its own and
    neither the login nor the address has failed too often lately. Attempts on one login
    take turns (``login_lock``), so attempts sent at once cannot all pass the bound; those
    of one address from different logins do not wait for each other (an office's members
    behind one address log in together), and may pass its bound by as many as run at once."""
    async with conn.transaction():
        user_id = await _attempt(conn, login_name, password, address, now, bounds)
        opened = None
        if user_id is not None:
            opened = await _open(conn, user_id, address, user_agent, now, lifetime)
    if opened is None:  # (after the commit: the failure is counted)
        raise Unauthorized(REFUSED)
    return opened


async def _attempt(
    conn: AsyncConnection,
    login_name: str,
    password: str,
    address: str,
    now: datetime,
    bounds: Bounds,
) -> int | None:
    """The id of the open account ``login_name`` names if ``password`` is its own, else None
    with the failure counted; 429 when the login or the address has failed too often lately.
    Within the caller's transaction, which holds the login's turn (``login_lock``) to its end."""
    await conn.execute(load("login_lock"), {"login": login_name})
    await _not_locked_out(conn, login_name, address, now, bounds)
    row = await (await conn.execute(load("account_for_login"), {"login": login_name})).fetchone()
    password_hash = row[1] if row and row[0] is not None else None
    # (a thread: Argon2 takes tens of milliseconds of CPU, which the event loop must not)
    right = await asyncio.to_thread(passwords.verify, password_hash, password)
    if right and not row[2]:
        return row[0]
    await conn.execute(load("login_failed"), {"login": login_name, "address": address, "at": now})
    return None


async def _open(
    conn: AsyncConnection,
    user_id: int,
    address: str,
    user_agent: str | None,
    now: datetime,
    lifetime: timedelta,
) -> Opened:
    token, csrf = TOKEN_PREFIX + secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    expires = now + lifetime
    await conn.execute(
        load("open_session"),
        {
            "token": digest(token),
            "user_id": user_id,
            "csrf": digest(csrf),
            "at": now,
            "expires": expires,
            "address": address,
            "user_agent": (user_agent or "")[:300],
        },
    )
    return Opened(token, csrf, expires, user_id)


async def _not_locked_out(
    conn: AsyncConnection, login_name: str, address: str, now: datetime, bounds: Bounds
) -> None:
    since = now - bounds.window
    cur = await conn.execute(
        load("failures"), {"login": login_name, "address": address, "since": since}
    )
    of_login, of_address, latest_login, latest_address = await cur.fetchone()
    for count, most, latest, what in (
        (of_login, bounds.per_login, latest_login, "this login"),
        (of_address, bounds.per_address, latest_address, "this address"),
    ):
        if count >= most:
            wait = max(1, math.ceil((latest + bounds.window - now).total_seconds()))
            raise TooMany(
                f"{most} failed logins of {what} within {bounds.window.total_seconds():g} s: "
                f"try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )


async def caller(conn: AsyncConnection, token: str, now: datetime) -> dict | None:
    """The account holding an open session of ``token`` (its id, login, name, role, area,
    team, the session's CSRF digest and expiry); None when there is no such open session."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    cur = conn.cursor(row_factory=dict_row)
    row = await (
        await cur.execute(load("session_caller"), {"token": digest(token), "at": now})
    ).fetchone()
    return row if row and row["user_id"] is not None else None


def csrf_matches(expected_digest: bytes, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(expected_digest, digest(sent))


async def logout(conn: AsyncConnection, token: str, now: datetime) -> bool:
    """End the session of ``token`` at once; whether there was one open."""
    cur = await conn.execute(load("end_session"), {"at": now, "token": digest(token)})
    return await cur.fetchone() is not None


async def change_password(
    conn: AsyncConnection,
    who: Who,
    token: str | None,
    old: str,
    new: str,
    address: str,
    bounds: Bounds = Bounds(),
) -> None:
    """A person's own new password, given the old one (401 otherwise); every other session of
    theirs ends. A wrong old password counts as a failed login of the account and the address,
    under the same bounds (a stolen session cannot guess the password it would need)."""
    user_id, now = who.caller.user_id, who.actor.at
    async with conn.transaction():
        right = await _attempt(conn, who.actor.name, old, address, now, bounds) == user_id
        if right:  # (hashed only now: a refused or locked-out attempt costs no second hash)
            fresh = await asyncio.to_thread(passwords.hash_password, new)
            async with acting_as(conn, who.caller):
                await conn.execute(
                    load("own_password"), {"password_hash": fresh, "user_id": user_id}
                )
                await conn.execute(
                    load("end_other_sessions"),
                    {"at": now, "user_id": user_id, "token": digest(token or "")},
                )
    if not right:  # (after the commit: the failure is counted)
        raise Unauthorized("the old password is wrong")
