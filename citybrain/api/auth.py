"""API keys and roles: ``Authorization: Bearer <key>``, keys from ``CITYBRAIN_API_KEYS``.

Roles are ordered: ``viewer`` < ``dispatcher`` < ``admin``. Reads are open; a reader's role
decides whether personal data (reporter name and phone) is shown. Writes need a role.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from citybrain.api.deps import SettingsDep
from citybrain.errors import Forbidden, Unauthorized

ROLES = ("anonymous", "viewer", "dispatcher", "admin")


@dataclass(frozen=True)
class Principal:
    role: str
    actor: str  # what the audit trail records: role and a fingerprint of the key

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def sees_personal_data(self) -> bool:
        return self.at_least("dispatcher")


ANONYMOUS = Principal("anonymous", "anonymous")


async def principal(request: Request, settings: SettingsDep) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, key = header.partition(" ")
    role = settings.key_roles.get(key.strip()) if scheme.lower() == "bearer" else None
    if role is None:
        raise Unauthorized("invalid API key: send Authorization: Bearer <key>")
    fingerprint = hashlib.sha256(key.strip().encode()).hexdigest()[:8]
    return Principal(role, f"{role}:{fingerprint}")


PrincipalDep = Annotated[Principal, Depends(principal)]


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
