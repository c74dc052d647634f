"""``/auth``: logging in as a person and out again, who one is, one's own password.

``POST /auth/login`` answers a bearer token for apps and, for the web pages, sets the session
in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` behind TLS) with a CSRF token in a
cookie the page reads and sends back in ``X-CSRF-Token`` on every write (``api.auth``). An
unknown login and a wrong password get the same answer; failures are bounded per login and per
address (429 with ``Retry-After``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from citybrain.api.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    PersonDep,
    PrincipalDep,
    client_of,
    session_token,
)
from citybrain.api.deps import ConnDep, NowDep, SettingsDep
from citybrain.api.responses import errors
from citybrain.errors import InvalidInput, Unauthorized
from citybrain.people import passwords, sessions

router = APIRouter(prefix="/auth", tags=["accounts"])


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=64, description="user name or phone number")
    password: str = Field(min_length=1, max_length=200)


class Me(BaseModel):
    kind: str = Field(description="user, key or anonymous")
    role: str
    actor: str
    user_id: int | None = None
    name: str | None = None
    area_code: str | None = None
    area_level: str | None = None
    team_id: int | None = None
    department_id: int | None = Field(None, description="a handler's department")
    must_change_password: bool | None = Field(
        None,
        description="a person whose password an administrator set (created, reset, imported): "
        "every route but /auth/me, /auth/password and /auth/logout answers 403 until it is changed",
    )


class Session(BaseModel):
    token: str = Field(description="Authorization: Bearer <token> (apps); shown once")
    csrf: str = Field(description="X-CSRF-Token on every write made with the cookie")
    expires_at: str
    me: Me


class PasswordIn(BaseModel):
    old: str = Field(min_length=1, max_length=200)
    new: str = Field(min_length=1, max_length=200)


def _bounds(settings) -> sessions.Bounds:
    """How often a login and an address may fail (a login, or a password change's old one)."""
    return sessions.Bounds(
        settings.login_failures,
        settings.login_failures_per_address,
        timedelta(seconds=settings.login_window_s),
    )


def _secure(request: Request, settings) -> bool:
    """Cookies marked Secure behind TLS: the request came over https, or the public URL is."""
    return request.url.scheme == "https" or (settings.public_url or "").startswith("https://")


@router.post(
    "/login",
    response_model=Session,
    summary="Log in with a login and a password",
    responses=errors(401, 429),
)
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    conn: ConnDep,
    settings: SettingsDep,
    now: NowDep,
) -> dict[str, Any]:
    address = client_of(request, None).split(":", 1)[1]
    lifetime = timedelta(hours=settings.session_hours)
    agent = request.headers.get("user-agent")
    opened = await sessions.login(
        conn, body.login, body.password, address, agent, now, lifetime, _bounds(settings)
    )
    me = await sessions.caller(conn, opened.token, now)
    secure, age = _secure(request, settings), int(lifetime.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, opened.token, max_age=age, httponly=True, samesite="strict", secure=secure
    )
    response.set_cookie(CSRF_COOKIE, opened.csrf, max_age=age, samesite="strict", secure=secure)
    response.headers["Cache-Control"] = "no-store"
    return {
        "token": opened.token,
        "csrf": opened.csrf,
        "expires_at": opened.expires_at.isoformat(),
        "me": _me_of_row(me),
    }


def _me_of_row(row: dict) -> dict[str, Any]:
    return {
        "kind": "user",
        "role": row["role"],
        "actor": row["login"],
        "user_id": row["user_id"],
        "name": row["name"],
        "area_code": row["area_code"],
        "area_level": row["area_level"],
        "team_id": row["team_id"],
        "department_id": row["department_id"],
        "must_change_password": row["must_change_password"],
    }


@router.post("/logout", status_code=204, summary="End this session", responses=errors(401))
async def logout(
    request: Request, response: Response, conn: ConnDep, now: NowDep, who: PrincipalDep
) -> Response:
    token = session_token(request)
    if token is None or who.kind != "user":
        raise Unauthorized("not logged in: there is no session to end")
    await sessions.logout(conn, token, now)
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE)
    out.delete_cookie(CSRF_COOKIE)
    return out


@router.get("/me", response_model=Me, summary="Who am I")
async def me(who: PrincipalDep) -> dict[str, Any]:
    area = who.area
    return {
        "kind": who.kind,
        "role": who.role,
        "actor": who.actor,
        "user_id": who.user_id,
        "name": who.name,
        "area_code": area.code if area else None,
        "area_level": area.level if area else None,
        "team_id": who.team_id,
        "department_id": who.department_id,
        "must_change_password": who.must_change_password if who.kind == "user" else None,
    }


@router.post(
    "/password",
    status_code=204,
    summary="Change one's own password",
    responses=errors(400, 401, 429),
)
async def change_password(
    body: PasswordIn,
    request: Request,
    conn: ConnDep,
    who: PersonDep,
    now: NowDep,
    settings: SettingsDep,
) -> Response:
    """The old password, and a new one of at least 10 characters; other sessions end. A wrong
    old password counts as a failed login (429 past the same bounds)."""
    weak = passwords.weak_reason(body.new)
    if weak:
        raise InvalidInput(weak)
    if body.new == body.old:
        raise InvalidInput("the new password is the old one: choose another")
    address = client_of(request, None).split(":", 1)[1]
    await sessions.change_password(
        conn, who.who(now), session_token(request), body.old, body.new, address, _bounds(settings)
    )
    return Response(status_code=204)
