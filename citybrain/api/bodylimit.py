"""The body limit: a request body larger than ``CITYBRAIN_MAX_BODY_KB`` is refused (413) before
any route reads it. Imports have their own, larger limit (``CITYBRAIN_IMPORT_MAX_MB``,
``api.routers.imports``)."""

from __future__ import annotations

from citybrain.api.errors import error_response
from citybrain.api.reads import replay


class BodyLimit:
    """Refuses a request body larger than ``max_bytes`` (413) before any route reads it: by
    its Content-Length, or while it streams in (a plain ASGI middleware)."""

    def __init__(self, app, max_bytes: int, exempt: tuple[str, ...] = ("/imports/",)):
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        if length is not None or b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)
        # A body of unstated length: read it here, up to the limit, then hand it on.
        body, more, size = [], True, 0
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, replay([message], receive), send)
            body.append(message)
            more = message.get("more_body", False)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
        await self.app(scope, replay(body, receive), send)

    async def _refuse(self, scope, receive, send):
        detail = f"the body is larger than {self.max_bytes // 1024} KB"
        await error_response(413, "too_large", detail)(scope, receive, send)
