"""Fast JSON responses for the hot paths: orjson, and no second validation of data the
service already shaped (the route's ``response_model`` still documents it in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):  # PostgreSQL numeric (round(), percentages)
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


class GeoJSON(JSON):
    media_type = "application/geo+json"


class AuditEvent(BaseModel):
    """One step of an audit trail (an incident's, an alert's): who did what, when, from which
    status to which, with their note."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


class ApiError(BaseModel):
    """The body of every error answer."""

    code: str = Field(
        description="invalid_input, invalid_request, not_found, conflict, unauthorized, "
        "forbidden, database_unavailable, ..."
    )
    detail: str | list[dict[str, Any]] = Field(
        description="what was wrong; for invalid_request, one entry per field (loc, msg, type)"
    )


def error(description: str) -> dict[str, Any]:
    """An error answer for OpenAPI ``responses``: ``ApiError`` body, what it means here."""
    return {"model": ApiError, "description": description}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, with their general meaning."""
    said = {
        400: "the input is well-formed but wrong (e.g. a point outside the county)",
        401: "no or an unknown API key",
        403: "the key's role may not do this",
        404: "no such thing",
        409: "conflicts with the current state (a transition, a full team, a reused key)",
        411: "the body has no Content-Length",
        413: "the body is larger than the server reads",
        422: "the request does not validate (types, ranges, NUL characters)",
        429: "too many requests from this caller: retry after Retry-After seconds",
        503: "the database does not answer, the answer took too long, or a bounded resource "
        "is full; retry later",
    }
    return {s: error(said[s]) for s in statuses}
