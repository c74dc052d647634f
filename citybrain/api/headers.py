"""Security headers: every answer is ``nosniff`` and sends no referrer; pages (HTML) also carry a
Content-Security-Policy that lets them load and reach only this server, and may not be framed.

The policy is what the pages need and no more: the big screen's MapLibre draws in workers made
from ``blob:`` URLs and decodes images from ``blob:`` and ``data:`` (its CSS's icons); the
tiles of a PMTiles archive come from ``CITYBRAIN_TILE_ARCHIVE_URL``'s origin. No inline script
or style: the documentation pages' inline code (FastAPI's) runs by a nonce that the page's own
policy names (``csp(settings, nonce)``, ``api.routers.docs``; ReDoc's page alone also takes
inline styles, which its library writes as it runs); a route that sets its own policy keeps
it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from citybrain.settings import Settings

EVERY_ANSWER: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def csp(settings: Settings, nonce: str | None = None, inline_styles: bool = False) -> str:
    """The pages' Content-Security-Policy; with ``nonce``, the page's inline ``<script>`` and
    ``<style>`` elements that carry it run too; ``inline_styles``: any inline style applies
    (for a page whose library writes styles at run time; scripts still need the nonce)."""
    inline = f" 'nonce-{nonce}'" if nonce else ""
    # (a nonce beside 'unsafe-inline' would switch 'unsafe-inline' off)
    styles = " 'unsafe-inline'" if inline_styles else inline
    connect = "'self'"
    if settings.tile_archive_url:
        archive = urlsplit(settings.tile_archive_url)
        if archive.scheme in ("http", "https") and archive.netloc:
            connect += f" {archive.scheme}://{archive.netloc}"
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self'{inline}",
            f"style-src 'self'{styles}",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            f"connect-src {connect}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """ASGI middleware: the headers above on every answer, errors included; a header the
    answer already has is left as it is."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.page = (
            (b"content-security-policy", csp(settings).encode()),
            (b"x-frame-options", b"DENY"),
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower(): v for k, v in headers}
                wanted = EVERY_ANSWER
                if present.get(b"content-type", b"").startswith(b"text/html"):
                    wanted += self.page
                message["headers"] = headers + [(k, v) for k, v in wanted if k not in present]
            await send(message)

        await self.app(scope, receive, with_headers)
