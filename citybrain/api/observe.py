"""What operators see of each request: its id (``X-Request-ID``, in every log line of the
request and echoed in the answer), its time to the answer's start in ``Server-Timing`` (for
clients and benchmarks), and its count and latency in ``/metrics``, by route template. Plain
ASGI middlewares: Starlette's ``BaseHTTPMiddleware`` costs a task per request. And the gauges
sampled rather than counted: the process's pool, and what the database holds (open alerts)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from functools import partial

import psycopg
from asgi_correlation_id import CorrelationIdMiddleware

from citybrain import metrics

log = logging.getLogger("citybrain")

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
UNMATCHED = "<unmatched>"  # the route of a request no route took (404s): one series, any path
# A caller's request id is kept when it is short and plain (a proxy's UUID or hex id, an
# application's own token); anything else (long, spaces, quotes, control characters that could
# forge log lines) is replaced by a fresh id.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def sane_request_id(value: str) -> bool:
    return _SANE_ID.fullmatch(value) is not None


RequestId = partial(CorrelationIdMiddleware, validator=sane_request_id)


class RequestMetrics:
    """Stamps ``Server-Timing: app;dur=<ms>`` on every answer (the time to its start), and
    counts every answer by route template, method and status, timed to its last byte; counted
    before that byte is sent, so a client that has its answer finds it counted. A request that
    fails before answering counts as 500 (the error middleware answers it so)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status: list = [None, False]  # the answer's status; counted yet

        def observe() -> None:
            status[1] = True
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "other"
            metrics.REQUESTS.labels(template, method, str(status[0] or 500)).inc()
            metrics.LATENCY.labels(template, method).observe(time.perf_counter() - started)

        async def counted_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                ms = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={ms:.2f}".encode()),
                ]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                observe()
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            if not status[1]:  # an answer cut short (a stream closed): counted with its status
                observe()


def sample(pool, lane: str) -> None:
    """The gauges read from a process's state rather than counted: its request pool's
    connections (a replica's pool is sampled by its checks, ``db.replicas``)."""
    metrics.sample_pool(lane, pool)


async def sample_database(pool) -> None:
    """The gauges read from the database (the open alerts), on a connection of ``pool`` if one
    is free within a second: when the database is away or the pool busy, the last values stay
    (a sampler must never wait on, or add to, a request's queue for long)."""
    try:
        async with pool.connection(timeout=1) as conn:
            await metrics.sample_alerts(conn)
    except psycopg.Error as exc:  # (a pool timeout, a closed pool are ones)
        log.debug("the database's gauges not sampled: %s", type(exc).__name__)


async def sample_forever(pool_of, lane: str, every_s: float = 5.0) -> None:
    """Samples this process's gauges every ``every_s``: a scrape is answered by one process,
    and reads the others' values from their files, as fresh as their last sample."""
    while True:
        pool = pool_of()  # (renewed after an outage)
        sample(pool, lane)
        try:
            await sample_database(pool)
        except Exception:  # a sample must never end the sampling
            log.exception("sampling the database's gauges failed")
        await asyncio.sleep(every_s)
