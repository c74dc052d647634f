"""The service's Prometheus metrics, defined once and counted where things happen (requests,
tile cache, heat index, live streams, imports, detectors) or sampled from what a process holds
(its pools) and from the database (open alerts); ``GET /metrics`` exposes them.

Correct across processes: ``citybrain serve`` runs several worker processes and a dispatch
process, and sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory before any starts
(``api.server``); prometheus-client then keeps each process's values in files there and
``exposition()`` sums them, whichever process is scraped. Gauges say how they combine:
``livesum`` for what adds up over processes (live streams), ``liveall`` (a ``pid`` label) for
what each process holds on its own (its pool, its heat index, its tile cache); ``live``: the
values of a process that has exited are dropped (``mark_process_dead``). Without the variable
(one process, the tests' in-process servers) the default registry serves.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from citybrain.domain import OPEN_ALERT_STATUSES, AlertKind
from citybrain.sql import load

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- requests (api.observe.RequestMetrics) ----------------------------------------------------
# `route` is the route's template (/incidents/{incident_id}), never the raw path: a client
# cannot make new series by asking for new paths.
REQUESTS = Counter(
    "citybrain_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "citybrain_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its answer",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# --- database pools (sampled: sample_pool) ---------------------------------------------------
# `pool`: a process's request pool by its lane (public, dispatch; api.observe samples it every
# 5 s and at each scrape), or a read replica's pool by its name (replica<n>; db.replicas
# samples it at each of its checks, every CITYBRAIN_REPLICA_CHECK_S).
POOL_SIZE = Gauge(
    "citybrain_db_pool_connections",
    "Connections a process's pool holds",
    ["pool"],
    multiprocess_mode="liveall",
)
POOL_IN_USE = Gauge(
    "citybrain_db_pool_in_use",
    "Connections of a process's pool lent to requests",
    ["pool"],
    multiprocess_mode="liveall",
)
POOL_WAITING = Gauge(
    "citybrain_db_pool_waiting",
    "Requests waiting for a connection of a process's pool",
    ["pool"],
    multiprocess_mode="liveall",
)


def sample_pool(name: str, pool: AsyncConnectionPool) -> None:
    """The pool gauges of ``pool`` as of now, labelled ``name``: the one place they are set."""
    stats = pool.get_stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    POOL_SIZE.labels(name).set(size)
    POOL_IN_USE.labels(name).set(size - available)
    POOL_WAITING.labels(name).set(stats.get("requests_waiting", 0))


# --- the heat index (services.incident_index) -------------------------------------------------
REPLICA_LAG = Gauge(
    "citybrain_replica_lag_seconds",
    "How far each read replica is behind the primary, as this process last measured",
    ["replica"],
    multiprocess_mode="livemax",
)
REPLICA_UP = Gauge(
    "citybrain_replica_up",
    "1 while a read replica answers and is within the lag bound (CITYBRAIN_REPLICA_MAX_LAG_S)",
    ["replica"],
    multiprocess_mode="livemin",
)
READS = Counter(
    "citybrain_reads",
    "Requests' database reads by the node that served them (primary or a replica)",
    ["node"],
)
READ_RETRIES = Counter(
    "citybrain_read_retries",
    "Reads a replica could not finish (a recovery conflict, the replica went away) that the "
    "primary answered instead",
    ["reason"],
)
HEAT_INCIDENTS = Gauge(
    "citybrain_heat_index_incidents",
    "Incidents a process's heat index holds",
    multiprocess_mode="liveall",
)
HEAT_OVERLAY = Gauge(
    "citybrain_heat_index_overlay_rows",
    "Changed incidents held beside the sorted base, waiting to be folded in",
    multiprocess_mode="liveall",
)
HEAT_FRESH = Gauge(
    "citybrain_heat_index_fresh_timestamp_seconds",
    "When a process's heat index last caught up with the database (lag: now minus this)",
    multiprocess_mode="liveall",
)
HEAT_CATCH_UP = Histogram(
    "citybrain_heat_index_catch_up_seconds",
    "Time an answer waited for the heat index to catch up with the database",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
HEAT_REBUILDS = Counter(
    "citybrain_heat_index_rebuilds",
    "Heat index rebuilds: 'load' reads every incident, 'fold' merges the overlay in memory",
    ["kind"],
)
HEAT_SHARED_BYTES = Gauge(
    "citybrain_heat_index_shared_bytes",
    "Bytes of the machine's shared heat index base a process maps (0: it holds its own)",
    multiprocess_mode="liveall",
)
HEAT_SHARED_MAPS = Counter(
    "citybrain_heat_index_shared_maps",
    "Shared heat index bases a process mapped that another process had built",
)

# --- tiles (tiles.service.TileCache) ----------------------------------------------------------
TILE_HITS = Counter("citybrain_tile_cache_hits", "Tiles answered from a process's cache")
TILE_MISSES = Counter("citybrain_tile_cache_misses", "Tiles not in a process's cache")
TILE_BYTES = Gauge(
    "citybrain_tile_cache_bytes",
    "Bytes of tiles a process's cache holds",
    multiprocess_mode="liveall",
)

# --- live streams (services.events) -----------------------------------------------------------
SSE_SUBSCRIBERS = Gauge(
    "citybrain_sse_subscribers", "Open live streams (/events)", multiprocess_mode="livesum"
)

# --- imports (api.routers.imports, cli) -------------------------------------------------------
IMPORTS = Counter(
    "citybrain_import_runs",
    "Import runs by layer and outcome (written, dry_run, rejected, failed)",
    ["layer", "outcome"],
)

# --- early warning (alerts.runner) ------------------------------------------------------------
DETECTOR_RUNS = Counter(
    "citybrain_detector_runs",
    "Detector runs by detector and outcome (ok, failed)",
    ["detector", "outcome"],
)
ALERTS_RAISED = Counter("citybrain_alerts_raised", "New alerts stored, by detector", ["detector"])
# A count of rows, not of what a process did: every process samples it (api.observe, every
# 5 s) from the same table, and the latest sample of any live process is the answer.
ALERTS_OPEN = Gauge(
    "citybrain_alerts_open",
    "Alerts not closed, by kind and status (every kind and open status, 0 included), as the "
    "database last told",
    ["kind", "status"],
    multiprocess_mode="livemostrecent",
)


async def sample_alerts(conn: AsyncConnection) -> None:
    """``citybrain_alerts_open`` as the alerts table holds it now."""
    counts = {(kind, status): 0 for kind in AlertKind for status in OPEN_ALERT_STATUSES}
    cur = await conn.execute(load("metrics/alerts_open"))
    for kind, status, n in await cur.fetchall():
        counts[kind, status] = n
    for (kind, status), n in counts.items():
        ALERTS_OPEN.labels(str(kind), str(status)).set(n)


def exposition() -> tuple[bytes, str]:
    """The metrics of every process of this server, in the Prometheus text format, and their
    content type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
