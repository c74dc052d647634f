"""Who is asking: a person with a session, a machine with an API key, or nobody.

- ``Authorization: Bearer cbs_...``: a person's session token (``POST /auth/login``), for apps.
- The ``citybrain_session`` cookie: a person's session in a web page; a write made with it must
  also carry the session's CSRF token in ``X-CSRF-Token`` (403 otherwise).
- ``Authorization: Bearer <key>``: an API key (``services.keys``: ``citybrain keys create``, or
  bootstrapped by ``CITYBRAIN_API_KEYS``).

What each may do is ``domain.CAPABILITIES`` (the access table in the README); routes ask for
one capability each (``allowed``). Which case files a caller may read is not decided here: the
database decides it on each transaction, from the caller's role and area (``caller``,
``people.caller``). With ``CITYBRAIN_ANONYMOUS_READS=false`` every request but the health
checks needs a session or a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from citybrain.api.state import state_of
from citybrain.clock import clock_of
from citybrain.domain import ACTS_AS, PUBLIC_ROLES, Actor, Can, Role, can, who_can
from citybrain.errors import Forbidden, Unauthorized
from citybrain.people import sessions
from citybrain.people.caller import Area, Caller, Who

# Open whatever the setting: the process and database checks a load balancer asks.
ALWAYS_OPEN = ("/healthz", "/livez", "/readyz")
# The field app's shell and the MapLibre it loads (/field/maplibre-gl.js): public code, which
# its login page needs before anyone is logged in (the data it then asks for is each route's
# to guard).
PUBLIC_CODE = ("/field/",)
SESSION_COOKIE = "citybrain_session"
CSRF_COOKIE = "citybrain_csrf"
CSRF_HEADER = "X-CSRF-Token"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# What a person whose password an administrator set may do before changing it.
BEFORE_PASSWORD_CHANGE = ("/auth/me", "/auth/password", "/auth/logout")
COUNTY = Area("330421")


@dataclass(frozen=True)
class Principal:
    """Who is asking: ``kind`` (anonymous, key, user), the role, the name the audit trail
    records (a key's name, a person's login), and for people their account, area and team."""

    kind: Literal["anonymous", "key", "user"]
    role: str
    actor: str
    area: Area | None = None
    user_id: int | None = None
    team_id: int | None = None
    name: str | None = None
    csrf: bytes | None = None  # a cookie session's CSRF digest, which its writes must match
    must_change_password: bool = False  # set by an administrator: change it before all else
    department_id: int | None = None  # a handler's department

    def can(self, what: Can) -> bool:
        return can(self.role, what)

    @property
    def is_public(self) -> bool:
        """Sees what a public screen shows, and nothing more (anonymous callers, displays)."""
        return self.role in PUBLIC_ROLES

    @property
    def reads_case_files(self) -> bool:
        return self.can(Can.read_cases)

    @property
    def sees_personal_data(self) -> bool:
        return self.can(Can.see_personal)

    @property
    def caller(self) -> Caller:
        """The caller as the database sees it (row-level security)."""
        role = ACTS_AS.get(Role(self.role))
        return Caller(
            str(role) if role else None,
            self.area or COUNTY,
            self.user_id,
            self.team_id,
            self.department_id,
        )

    def acting(self, at: datetime) -> Actor:
        """This principal taking a step at ``at`` (business time), for the audit trail."""
        return Actor(self.actor, self.role, at)

    def who(self, at: datetime, route: str = "") -> Who:
        """This principal as a service takes it (``people.caller.Who``)."""
        return Who(self.caller, self.acting(at), self.sees_personal_data, route)


ANONYMOUS = Principal("anonymous", "anonymous", "anonymous")


def _bearer_session(request: Request) -> str | None:
    """A bearer ``cbs_`` session token in the Authorization header, if there is one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip().startswith(sessions.TOKEN_PREFIX):
        return value.strip()
    return None


def session_token(request: Request) -> str | None:
    """The session token a request carries: a bearer ``cbs_`` token, else the cookie."""
    return _bearer_session(request) or request.cookies.get(SESSION_COOKIE)


async def identify(request: Request) -> Principal:
    """The principal of a request (ANONYMOUS without credentials); 401 for a key the server
    does not hold or a session that is not open."""
    header = request.headers.get("authorization")
    token = session_token(request)
    state = state_of(request)
    if token is not None:
        now = clock_of(state.settings).now()
        async with state.pool.connection() as conn:
            row = await sessions.caller(conn, token, now)
        if row is None:
            raise Unauthorized("the session is not open (expired, ended or unknown): log in again")
        # (where the token came from, not what else the request carries: a cookie's session
        # with any other Authorization header still owes its writes the CSRF token)
        by_cookie = _bearer_session(request) is None
        return Principal(
            "user",
            row["role"],
            row["login"],
            Area(row["area_code"], row["area_level"], *_ids(row)),
            row["user_id"],
            row["team_id"],
            row["name"],
            row["csrf_hash"] if by_cookie else None,
            row["must_change_password"],
            row["department_id"],
        )
    if not header:
        return ANONYMOUS
    scheme, _, key = header.partition(" ")
    return await key_holder(request, key.strip() if scheme.lower() == "bearer" else "")


async def key_holder(request: Request, key: str) -> Principal:
    """The principal of an API key (sent as a bearer token, or where a protocol puts it:
    Open311's ``api_key`` field); 401 for a key the server does not hold."""
    found = None
    if key:
        found = await state_of(request).keys.find(state_of(request).pool, key)
    if found is None:
        raise Unauthorized("invalid API key: send Authorization: Bearer <key>")
    return Principal("key", found.role, found.name, found.area)


def may(who: Principal, what: Can) -> Principal:
    """``who`` if their role may ``what``: 401 for nobody, 403 for a role that may not."""
    if who.kind == "anonymous":
        raise Unauthorized(
            f"this needs a session or an API key: it may {what.value} ({who_can(what)})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not who.can(what):
        raise Forbidden(f"role {who.role} may not {what.value}: {who_can(what)} may")
    return who


def _ids(row: dict) -> tuple[int | None, int | None, int | None]:
    return row["town_id"], row["village_id"], row["grid_id"]


async def _identified(request: Request) -> Principal | Unauthorized:
    """The request's principal, or the refusal of its credentials, worked out once per request
    (the middlewares and the routes all ask)."""
    state = request.scope.setdefault("state", {})
    if "principal" not in state:
        try:
            state["principal"] = await identify(request)
        except Unauthorized as exc:
            state["principal"] = exc
    return state["principal"]


async def caller(request: Request) -> Principal:
    """Who is asking, for counting (rate limits): credentials the server does not hold count
    as anonymous; the route then answers them with 401."""
    found = await _identified(request)
    if isinstance(found, Unauthorized) or found.must_change_password:
        return ANONYMOUS  # (a password an administrator set: nothing more than anonymous)
    return found


async def principal(request: Request) -> Principal:
    """Who is asking, for a route: 401 for credentials the server does not hold, 403 for a
    write made with a session cookie but without its CSRF token, and 403 for a person whose
    password an administrator set, on every route but ``BEFORE_PASSWORD_CHANGE``."""
    found = await _identified(request)
    if isinstance(found, Unauthorized):
        raise found
    route = request.scope.get("route")
    if found.must_change_password and getattr(route, "path", None) not in BEFORE_PASSWORD_CHANGE:
        raise Forbidden(
            f"the password of {found.actor!r} was set by an administrator: change it first "
            "(POST /auth/password with the old and a new one)"
        )
    if (
        found.csrf is not None
        and request.method in WRITES
        and not sessions.csrf_matches(found.csrf, request.headers.get(CSRF_HEADER))
    ):
        raise Forbidden(
            f"a write with the session cookie needs its CSRF token in {CSRF_HEADER} "
            f"(the {CSRF_COOKIE} cookie's value)"
        )
    return found


PrincipalDep = Annotated[Principal, Depends(principal)]
# Who is asking where unknown credentials must not stop the answer (health checks): anonymous.
CallerDep = Annotated[Principal, Depends(caller)]


def client_of(request: Request, who: Principal | None) -> str:
    """Whom a request counts against (rate limits, stream shares, failed logins): its key or
    account by name, or without one its client address (the TCP peer, or the one a trusted
    proxy names)."""
    if who is not None and who.kind != "anonymous":
        return f"{who.kind}:{who.actor}"
    client = request.scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


def allowed(what: Can):
    """A dependency that lets through the principals whose role may ``what``."""

    async def check(who: PrincipalDep) -> Principal:
        return may(who, what)

    return Depends(check)


async def _person(who: PrincipalDep) -> Principal:
    if who.kind != "user":
        raise Unauthorized("this needs a person's session: log in (POST /auth/login)")
    return who


# What routes ask for (the access table in the README):
ReadCasesDep = Annotated[Principal, allowed(Can.read_cases)]  # case files, audit trails
AdviseDep = Annotated[Principal, allowed(Can.advise)]  # dispatch advice
AssessDep = Annotated[Principal, allowed(Can.assess)]  # the assessment (考核)
ReportDep = Annotated[Principal, allowed(Can.report)]  # report an incident
PushOrdersDep = Annotated[Principal, allowed(Can.push_orders)]  # 12345 work orders
PhotosDep = Annotated[Principal, allowed(Can.send_photos)]  # photos from the field
PatrolDep = Annotated[Principal, allowed(Can.patrol)]  # a member's patrols (巡查)
DispatchDep = Annotated[Principal, allowed(Can.dispatch)]  # dispatch, escalate, move teams
AlertsDep = Annotated[Principal, allowed(Can.act_alerts)]  # an alert's lifecycle
ImportDep = Annotated[Principal, allowed(Can.import_files)]  # imports
PeopleDep = Annotated[Principal, allowed(Can.manage_people)]  # accounts, the access log
PersonDep = Annotated[Principal, Depends(_person)]  # a person, whatever their role


def team_as_seen_by(who: Principal, team: dict | None) -> dict | None:
    """A team as ``who`` may see it: its members' names for those who read case files, their
    roles only for anonymous callers and displays (what a public screen may show)."""
    if team is None or who.can(Can.see_members):
        return team
    return {**team, "members": [{"role": m["role"]} for m in team["members"]]}


class KeysRequired:
    """ASGI middleware for ``CITYBRAIN_ANONYMOUS_READS=false``: every request but the health
    checks carries a session or a key the server holds (routes then apply their own rules)."""

    def __init__(
        self,
        app,
        detail: str = "this server gives nothing to anonymous callers: log in or send an API key",
    ):
        self.app, self.detail = app, detail

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in ALWAYS_OPEN
            or path.startswith(PUBLIC_CODE)
            or _logging_in(scope)
        ):
            return await self.app(scope, receive, send)
        found = await _identified(Request(scope))  # (its app: the one this wraps)
        if isinstance(found, Unauthorized):
            who, detail = ANONYMOUS, found.detail
        elif found.must_change_password and scope["path"] not in BEFORE_PASSWORD_CHANGE:
            who, detail = ANONYMOUS, "change the password an administrator set first"
        else:
            who, detail = found, self.detail
        if who.kind == "anonymous":
            response = JSONResponse(
                {"code": "unauthorized", "detail": detail},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _logging_in(scope) -> bool:
    return scope["path"] == "/auth/login"
