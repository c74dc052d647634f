"""Rate limits: at most so many requests per caller, where a caller is a key (by its name,
``CITYBRAIN_RATE_LIMIT_KEYED``) or, without a valid key, a client address
(``CITYBRAIN_RATE_LIMIT``). Past the limit: 429 with ``Retry-After``.

The windows are sliding-window counters of the ``limits`` library, in this process's memory:
with several worker processes each counts its own share (the kernel spreads a client's
connections over them), so the limit a client meets is between one and ``workers`` times the
setting. The address is the TCP peer's, or the one a trusted proxy names in
``X-Forwarded-For`` (``CITYBRAIN_FORWARDED_ALLOW_IPS``, uvicorn's rule). Health checks are
never limited.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.requests import Request
from starlette.responses import JSONResponse

from citybrain.api.auth import ALWAYS_OPEN, caller, client_of


def parse(setting: str) -> list[RateLimitItem]:
    """``"100/second;3000/minute"`` → its windows; empty → no limit."""
    return parse_many(setting) if setting.strip() else []


class RateLimit:
    """ASGI middleware: counts each request against its caller's windows."""

    def __init__(self, app, anonymous: str, keyed: str):
        self.app = app
        self.windows = {"address": parse(anonymous), "key": parse(keyed)}
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in ALWAYS_OPEN:
            return await self.app(scope, receive, send)
        request = Request(scope)
        kind, name = client_of(request, await caller(request)).split(":", 1)
        kind = "address" if kind == "address" else "key"  # (a person's session counts as a key)
        windows = self.windows[kind]
        full = next((w for w in windows if not self.limiter.test(w, kind, name)), None)
        if full is None:
            for window in windows:
                self.limiter.hit(window, kind, name)
            return await self.app(scope, receive, send)
        reset = self.limiter.get_window_stats(full, kind, name).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        response = JSONResponse(
            {
                "code": "too_many_requests",
                "detail": f"more than {_say(full)} from this {kind}: retry in {wait} s",
            },
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
        await response(scope, receive, send)


def _say(window: RateLimitItem) -> str:
    per = window.GRANULARITY.name
    per = per if window.multiples == 1 else f"{window.multiples} {per}s"
    return f"{window.amount} requests per {per}"
