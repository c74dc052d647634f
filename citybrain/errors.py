"""One exception tree for citybrain.

Services raise these; the API answers each with its status and a ``{"code": ..., "detail":
...}`` body by the one table of ``citybrain.api.errors`` (kept there: it maps FastAPI's and
psycopg's exceptions too, and this module stays free of the web framework); the CLI prints
``detail`` and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class CitybrainError(Exception):
    """Base class: ``detail`` says what was wrong and, where possible, how to fix it."""

    code = "error"

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class DatabaseUnavailable(CitybrainError):
    code = "database_unavailable"


class InvalidInput(CitybrainError):
    code = "invalid_input"


class NotFound(CitybrainError):
    code = "not_found"


class Conflict(CitybrainError):
    code = "conflict"


class Unauthorized(CitybrainError):
    code = "unauthorized"


class Forbidden(CitybrainError):
    code = "forbidden"


class Busy(CitybrainError):
    """A bounded resource is full right now (live streams, imports): retry later."""

    code = "busy"


class TooMany(CitybrainError):
    """One caller holds or asks too much (its share of live streams, its login attempts):
    retry after ``Retry-After``."""

    code = "too_many_requests"


class NotReady(CitybrainError):
    """The process cannot serve yet (``/readyz``): its database, schema or indexes."""

    code = "not_ready"


class LengthRequired(CitybrainError):
    code = "length_required"


class TooLarge(CitybrainError):
    code = "too_large"


class UnsupportedMediaType(CitybrainError):
    """The bytes are not of a type the route takes (read from the bytes, not the name)."""

    code = "unsupported_media_type"
