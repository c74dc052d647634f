"""Who is asking: ``Authorization: Bearer <key>``, the key found among the server's keys
(``services.keys``: made by ``citybrain keys create``, or bootstrapped by
``CITYBRAIN_API_KEYS``).

Roles are ordered: ``anonymous`` < ``viewer`` < ``dispatcher`` < ``admin``. What each may do is
the access table in the README: anonymous callers read what a public screen shows (layers
without personal data, tiles, aggregates); ``viewer`` reads case files (an incident, its audit
trail, team members) and asks for dispatch advice (recommendations, a team's route);
``dispatcher`` writes and sees reporters; ``admin`` imports. With
``CITYBRAIN_ANONYMOUS_READS=false`` every request but the health checks needs a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from citybrain.api.state import state_of
from citybrain.domain import AccessRole, Actor
from citybrain.errors import Forbidden, Unauthorized

ROLES = tuple(AccessRole)  # lowest first
# Open whatever the setting: the process and database checks a load balancer asks.
ALWAYS_OPEN = ("/healthz", "/livez", "/readyz")


@dataclass(frozen=True)
class Principal:
    role: str
    actor: str  # what the audit trail records: the key's name

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def is_public(self) -> bool:
        """Sees what a public screen shows, and nothing more (anonymous callers, displays)."""
        return not self.at_least("viewer")

    @property
    def reads_case_files(self) -> bool:
        return self.at_least("viewer")

    @property
    def sees_personal_data(self) -> bool:
        return self.at_least("dispatcher")

    def acting(self, at: datetime) -> Actor:
        """This principal taking a step at ``at`` (business time), for the audit trail."""
        return Actor(self.actor, self.role, at)


ANONYMOUS = Principal("anonymous", "anonymous")


async def identify(request: Request, header: str | None) -> Principal:
    """The principal of an Authorization header (ANONYMOUS without one); 401 for a key the
    server does not hold."""
    if not header:
        return ANONYMOUS
    scheme, _, key = header.partition(" ")
    state = state_of(request)
    found = None
    if scheme.lower() == "bearer" and key.strip():
        found = await state.keys.find(state.pool, key.strip())
    if found is None:
        raise Unauthorized("invalid API key: send Authorization: Bearer <key>")
    return Principal(found.role, found.name)


async def _identified(request: Request) -> Principal | Unauthorized:
    """The request's principal, or the refusal of its key, worked out once per request (the
    middlewares and the routes all ask)."""
    state = request.scope.setdefault("state", {})
    if "principal" not in state:
        try:
            state["principal"] = await identify(request, request.headers.get("authorization"))
        except Unauthorized as exc:
            state["principal"] = exc
    return state["principal"]


async def caller(request: Request) -> Principal:
    """Who is asking, for counting (rate limits): a key the server does not hold counts as
    anonymous; the route then answers it with 401."""
    found = await _identified(request)
    return ANONYMOUS if isinstance(found, Unauthorized) else found


async def principal(request: Request) -> Principal:
    found = await _identified(request)
    if isinstance(found, Unauthorized):
        raise found
    return found


PrincipalDep = Annotated[Principal, Depends(principal)]
# Who is asking where an unknown key must not stop the answer (health checks): as anonymous.
CallerDep = Annotated[Principal, Depends(caller)]


def client_of(request: Request, who: Principal) -> str:
    """Whom a request counts against (rate limits, stream shares): its key by name, or without
    one its client address (the TCP peer, or the one a trusted proxy names)."""
    if who.role != "anonymous":
        return f"key:{who.actor}"
    client = request.scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


def require(role: str):
    """A dependency that lets through principals of at least ``role``."""

    async def check(who: PrincipalDep) -> Principal:
        if who.role == "anonymous":
            raise Unauthorized(
                f"this needs an API key with role {role} or above",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not who.at_least(role):
            raise Forbidden(f"role {who.role} may not do this: it needs {role} or above")
        return who

    return Depends(check)


# The roles routes ask for (the access table in the README):
ViewerDep = Annotated[Principal, require("viewer")]  # case files, audit trails, dispatch advice
DispatcherDep = Annotated[Principal, require("dispatcher")]  # writes; reporters
AdminDep = Annotated[Principal, require("admin")]  # imports


def team_as_seen_by(who: Principal, team: dict | None) -> dict | None:
    """A team as ``who`` may see it: its members' names for viewers and above, their roles
    only for anonymous callers (what a public screen may show)."""
    if team is None or who.reads_case_files:
        return team
    return {**team, "members": [{"role": m["role"]} for m in team["members"]]}


class KeysRequired:
    """ASGI middleware for ``CITYBRAIN_ANONYMOUS_READS=false``: every request but the health
    checks carries a key the server holds (routes then apply their own roles)."""

    def __init__(
        self, app, detail: str = "this server gives nothing to anonymous callers: send an API key"
    ):
        self.app, self.detail = app, detail

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in ALWAYS_OPEN:
            return await self.app(scope, receive, send)
        found = await _identified(Request(scope))  # (its app: the one this wraps)
        if isinstance(found, Unauthorized):
            who, detail = ANONYMOUS, found.detail
        else:
            who, detail = found, self.detail
        if who.role == "anonymous":
            response = JSONResponse(
                {"code": "unauthorized", "detail": detail},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)
