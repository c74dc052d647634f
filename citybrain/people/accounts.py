"""Accounts, as an admin keeps them (the ``citybrain users`` commands, the roster import, the
seed): made with a role and an area (a code at any level: the county, a town, a village, a
grid; a member's area is its team's grid), given a one-time password, disabled (which ends
their sessions at once), their password reset.

These run as the owner (commands, imports), on a synchronous connection. A new password is
returned to the caller once and never stored or logged in plain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from citybrain.domain import COUNTY_CODE, PERSON_ROLES, Role
from citybrain.errors import Conflict, InvalidInput, NotFound
from citybrain.people import passwords
from citybrain.people.caller import Area
from citybrain.sql import load as load_sql

SQL = Path(__file__).resolve().parent / "sql"


def load(name: str) -> str:
    return load_sql(name, SQL)


@dataclass(frozen=True)
class NewAccount:
    login: str
    name: str
    role: str
    area_code: str | None = None
    team_id: int | None = None
    phone: str | None = None


def area_of(conn: psycopg.Connection, code: str) -> Area:
    """The area ``code`` names (the county, a town, a village, a grid); 400 if none does."""
    row = conn.execute(load("area"), {"code": code, "county": COUNTY_CODE}).fetchone()
    if row is None:
        raise InvalidInput(
            f"area {code!r} is not the county ({COUNTY_CODE}) nor the code of a town, village "
            "or grid"
        )
    return Area(code, *row)


def _team_area(conn: psycopg.Connection, team_id: int) -> Area:
    row = conn.execute(load("team_area"), {"team": team_id}).fetchone()
    if row is None:
        raise InvalidInput(f"no team {team_id}")
    code, town, village, grid = row
    return Area(code, "grid", town, village, grid)


def check(conn: psycopg.Connection, new: NewAccount) -> Area:
    """What the account's role and area will be, or why not (400)."""
    if new.role not in PERSON_ROLES:
        raise InvalidInput(f"role {new.role!r}: one of {', '.join(str(r) for r in PERSON_ROLES)}")
    if new.role == Role.member:
        if new.team_id is None:
            raise InvalidInput("a member (网格员) belongs to a team: give its team")
        area = _team_area(conn, new.team_id)
        if new.area_code not in (None, area.code):
            raise InvalidInput(
                f"a member's area is its team's grid ({area.code}), not {new.area_code}"
            )
        return area
    if new.area_code is None:
        raise InvalidInput("give the account's area: a code of the county, a town, village or grid")
    return area_of(conn, new.area_code)


def create(conn: psycopg.Connection, new: NewAccount, now: datetime) -> str:
    """Make the account; return its one-time initial password (409 if the login or phone is
    taken)."""
    area = check(conn, new)
    password = passwords.initial_password()
    try:
        with conn.transaction():
            conn.execute(
                load("create_user"),
                {
                    "login": new.login,
                    "name": new.name,
                    "phone": new.phone,
                    "role": new.role,
                    "area_code": area.code,
                    "area_level": area.level,
                    "town_id": area.town_id,
                    "village_id": area.village_id,
                    "grid_id": area.grid_id,
                    "team_id": new.team_id,
                    "department_id": None,
                    "password_hash": passwords.hash_password(password),
                    "now": now,
                },
            )
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"login {new.login!r} or its phone is taken") from None
    except psycopg.errors.CheckViolation as exc:
        raise InvalidInput(f"account {new.login!r}: {exc.diag.constraint_name}") from None
    return password


def listing(conn: psycopg.Connection, role: str | None = None) -> list[dict]:
    return conn.cursor(row_factory=dict_row).execute(load("list_users"), {"role": role}).fetchall()


def disable(conn: psycopg.Connection, login: str, now: datetime) -> int:
    """Disable the account and end every session it holds; the sessions ended."""
    with conn.transaction():
        row = conn.execute(load("disable_user"), {"login": login, "now": now}).fetchone()
        if row is None:
            raise NotFound(f"no account {login!r}")
        ended = conn.execute(load("end_sessions"), {"user_id": row[0], "now": now})
        return ended.rowcount


def reset_password(conn: psycopg.Connection, login: str, now: datetime) -> str:
    """A new one-time password for ``login`` (its sessions end); returned once."""
    password = passwords.initial_password()
    with conn.transaction():
        row = conn.execute(
            load("set_password"),
            {
                "login": login,
                "password_hash": passwords.hash_password(password),
                "must_change": True,
            },
        ).fetchone()
        if row is None:
            raise NotFound(f"no account {login!r}")
        conn.execute(load("end_sessions"), {"user_id": row[0], "now": now})
    return password
