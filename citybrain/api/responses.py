"""Fast JSON responses for the hot paths: orjson, and no second validation of data the
service already shaped (the route's ``response_model`` still documents it in OpenAPI)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from fastapi.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):  # PostgreSQL numeric (round(), percentages)
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
