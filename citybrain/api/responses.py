"""Fast JSON responses for the hot paths: orjson, and no second validation of data the
service already shaped (the route's ``response_model`` still documents it in OpenAPI)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
