"""The names the service answers to, and the one place absolute URLs are built.

Links in answers (the style, TileJSON, OGC links) and redirects name the service. Built from a
request's ``Host`` header alone, they name whatever the caller claims: ``Host: evil.example``
would put ``http://evil.example/...`` into a style a shared cache then hands to every screen,
and a page on a rebinding name could read the intranet service. So a request whose ``Host`` is
not one of ``CITYBRAIN_ALLOWED_HOSTS`` is refused (400 ``invalid_host``) before any route runs,
and ``base_url`` builds links from ``CITYBRAIN_PUBLIC_URL`` when it is set, else from the
request (whose host has then been checked). Health checks and ``/metrics`` answer whatever the
host: load balancers and scrapers address each node by its own address, and those answers
carry no link.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from citybrain.api.auth import ALWAYS_OPEN
from citybrain.api.state import state_of
from citybrain.settings import Settings

LOOPBACK = ("localhost", "127.0.0.1", "::1")
ANY_HOST = (*ALWAYS_OPEN, "/metrics")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")  # where `serve` listens, not a name to be asked by


def allowed_hosts(settings: Settings) -> tuple[str, ...]:
    """``CITYBRAIN_ALLOWED_HOSTS`` (default: the loopback names and ``CITYBRAIN_HOST``), and
    always the public URL's host: a client following a link must be answered."""
    listed = [_bare(h) for h in settings.allowed_hosts.split(",") if h.strip()]
    if not listed:
        listed = [*LOOPBACK]
        if _bare(settings.host) not in WILDCARD_ADDRESSES:
            listed.append(_bare(settings.host))
    if settings.public_url:
        listed.append(_bare(urlsplit(settings.public_url).hostname or ""))
    return tuple(dict.fromkeys(listed))


def host_of(header: str) -> str:
    """The host name of a ``Host`` header: no port, lower case, no brackets or final dot."""
    header = header.strip()
    if header.startswith("["):  # [::1]:8000
        return _bare(header[1:].partition("]")[0])
    return _bare(header.rpartition(":")[0] if header.count(":") == 1 else header)


def is_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    if not host:
        return False
    for pattern in allowed:
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def base_url(request: HTTPConnection) -> str:
    """The service's base URL for links in an answer, without the final slash: the public URL
    when one is set, else the request's own (its host checked by ``TrustedHosts``)."""
    public = state_of(request).settings.public_url
    return public or str(request.base_url).rstrip("/")


class TrustedHosts:
    """ASGI middleware: refuses a request whose ``Host`` the service does not answer to, and
    points redirects that name the request's own base (Starlette's trailing-slash redirects)
    at the public URL when one is set."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.allowed = allowed_hosts(settings)
        self.public = settings.public_url

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or scope["path"] in ANY_HOST:
            return await self.app(scope, receive, send)
        request = HTTPConnection(scope)
        if not is_allowed(host_of(request.headers.get("host", "")), self.allowed):
            # (the host is not repeated: nothing the caller sent comes back)
            response = JSONResponse(
                {
                    "code": "invalid_host",
                    "detail": "the request's Host header names a host this server does not "
                    "answer to; ask by one of its names (CITYBRAIN_ALLOWED_HOSTS)",
                },
                status_code=400,
            )
            return await response(scope, receive, send)
        if not self.public:
            return await self.app(scope, receive, send)
        own, public = str(request.base_url).rstrip("/").encode(), self.public.encode()

        async def to_public(message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [
                    (k, public + v[len(own) :])
                    if k == b"location" and v.startswith(own)
                    else (k, v)
                    for k, v in message["headers"]
                ]
            await send(message)

        await self.app(scope, receive, to_public)


def _bare(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()
