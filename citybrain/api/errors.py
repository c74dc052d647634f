"""How an exception becomes an HTTP answer: one table, :data:`ANSWERS`, from every exception a
request can raise (citybrain's own, ``citybrain.errors``; FastAPI's and Starlette's; psycopg's;
anything else) to its status and ``code``, and :func:`add_exception_handlers`, which installs
it. Every answer has the API's error shape, ``{"code": ..., "detail": ...}``.

The table lives in the API, not beside the tree in ``citybrain.errors``: its keys include
FastAPI's and Starlette's classes, and the tree is imported by every layer below the API
(services, the importer, the CLI), which must not need a web framework to say what went wrong.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from citybrain.api import open311
from citybrain.errors import (
    Busy,
    CitybrainError,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InvalidInput,
    LengthRequired,
    NotFound,
    NotReady,
    TooLarge,
    TooMany,
    Unauthorized,
    UnsupportedMediaType,
)
from citybrain.settings import Settings

log = logging.getLogger("citybrain")


def error_response(status: int, code: str, detail: Any, /, **extra: Any) -> JSONResponse:
    """An error answer in the API's shape (``extra``: more fields of the body)."""
    return JSONResponse({"code": code, "detail": detail, **extra}, status_code=status)


@dataclass(frozen=True)
class Answer:
    """What a request that raised the exception is told. ``None`` takes the exception's own:
    its ``status_code`` (Starlette's), its class's ``code`` and its ``detail`` (ours). A
    callable is given the exception (``detail``: and the settings). Where ``when`` is false,
    the exception is answered as a bug (the row of ``Exception``)."""

    status: int | None = None
    code: str | Callable[[Any], str] | None = None
    detail: str | Callable[[Any, Settings], Any] | None = None
    when: Callable[[Any], bool] | None = None
    logged: bool = False  # with its traceback: never expected


def _fields(exc: RequestValidationError, _: Settings) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def _routing_code(exc: StarletteHTTPException) -> str:
    return {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")


def _holds_nul(exc: psycopg.DataError) -> bool:
    return "NUL" in str(exc)


def _too_long(_: psycopg.errors.QueryCanceled, settings: Settings) -> str:
    seconds = settings.statement_timeout_ms / 1000
    return (
        f"the answer took longer than {seconds:g} s: ask for less (a smaller area, window "
        "or resolution) or retry later"
    )


def _out_of_range(exc: psycopg.errors.NumericValueOutOfRange, _: Settings) -> str:
    return f"a number is out of range: {exc.diag.message_primary}"


# The most specific class of an exception that is a key answers it (QueryCanceled before
# OperationalError, a subclass of InvalidInput as InvalidInput): the order here is for reading.
ANSWERS: dict[type[Exception], Answer] = {
    # citybrain's own: the class's code and detail, its extra fields in the body
    InvalidInput: Answer(400),
    Unauthorized: Answer(401),
    Forbidden: Answer(403),
    NotFound: Answer(404),
    Conflict: Answer(409),
    LengthRequired: Answer(411),
    TooLarge: Answer(413),
    UnsupportedMediaType: Answer(415),
    TooMany: Answer(429),  # with its Retry-After
    DatabaseUnavailable: Answer(503),
    Busy: Answer(503),
    NotReady: Answer(503),
    CitybrainError: Answer(500),  # a configuration error (layer, detector, connections)
    # FastAPI's: a request that does not validate, one entry per field
    RequestValidationError: Answer(422, "invalid_request", _fields),
    # Starlette's routing: no such path (404), method (405, with its Allow header)
    StarletteHTTPException: Answer(None, _routing_code),
    # psycopg refuses to send text holding NUL (PostgreSQL cannot store it) before anything
    # reaches the database: the client's input, and the transaction is rolled back
    psycopg.DataError: Answer(
        422, "invalid_request", "text must not contain NUL (\\u0000) characters", when=_holds_nul
    ),
    psycopg.errors.QueryCanceled: Answer(503, "too_long", _too_long),  # statement_timeout
    # a number the input carried that PostgreSQL cannot hold (its message names no data)
    psycopg.errors.NumericValueOutOfRange: Answer(400, "invalid_input", _out_of_range),
    psycopg.OperationalError: Answer(
        503, "database_unavailable", "the database does not answer; retry later"
    ),
    # anything else is a bug: logged with its traceback, answered in the API's error shape
    Exception: Answer(
        500, "internal_error", "an unexpected error; it has been logged", logged=True
    ),
}


def _own(exc: Exception) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields the exception adds to the body, and its headers."""
    if isinstance(exc, CitybrainError):
        extra = dict(exc.extra)
        return extra, extra.pop("headers", None) or {}
    if isinstance(exc, StarletteHTTPException):
        return {}, dict(exc.headers or {})
    return {}, {}


def answer(exc: Exception, row: Answer, settings: Settings) -> JSONResponse:
    """The answer to ``exc`` by its ``row`` of :data:`ANSWERS`."""
    if row.when is not None and not row.when(exc):
        row = ANSWERS[Exception]
    if row.logged:
        log.exception("unhandled error", exc_info=exc)
    status = row.status if row.status is not None else exc.status_code  # type: ignore[attr-defined]
    code = row.code(exc) if callable(row.code) else row.code or exc.code  # type: ignore[attr-defined]
    if row.detail is None:
        detail = exc.detail  # type: ignore[attr-defined]
    else:
        detail = row.detail(exc, settings) if callable(row.detail) else row.detail
    extra, headers = _own(exc)
    response = error_response(status, code, detail, **extra)
    response.headers.update(headers)
    return response


def add_exception_handlers(app: FastAPI, settings: Settings) -> None:
    """Answers every exception of :data:`ANSWERS` (``Exception``'s by Starlette's outermost
    middleware, the others inside the app's middlewares)."""
    for exc_type, row in ANSWERS.items():
        app.add_exception_handler(exc_type, _handler(row, settings))


def _handler(row: Answer, settings: Settings) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        response = answer(exc, row, settings)
        if request.url.path.startswith(open311.PREFIX):  # (the GeoReport v2 error shapes)
            body = json.loads(response.body)
            headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
            headers |= {k: v for k, v in response.headers.items() if k.lower() == "allow"}
            return open311.error(request.url.path, response.status_code, body["detail"], headers)
        return response

    return handle
