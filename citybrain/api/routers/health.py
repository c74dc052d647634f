"""Liveness, readiness and metrics, for load balancers, supervisors and Prometheus: ``/livez``
answers while the process serves (no database asked: a database outage must not get servers
restarted); ``/readyz`` answers 200 only when the process can serve (its database answers, the
schema is at the revision this code needs, the incident index and road graph are loaded), else 503
naming every reason; ``/healthz`` answers with what it found; ``/metrics`` serves
``citybrain.metrics``."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from citybrain.api.auth import CallerDep, PrincipalDep
from citybrain.api.deps import (
    ConnDep,
    IncidentIndexDep,
    PoolDep,
    RoadsDep,
    SettingsDep,
    StateDep,
)
from citybrain.api.observe import sample
from citybrain.api.responses import errors
from citybrain.errors import NotFound, NotReady, Unauthorized
from citybrain.metrics import exposition
from citybrain.services import health as svc
from citybrain.services.incident_index import IncidentIndex
from citybrain.services.routing import RouterHolder

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: bool
    postgis: str | None = Field(None, description="callers with a key above display")
    schema_revision: str | None = Field(None, description="callers with a key above display")
    incidents: int | None = Field(None, description="callers with a key above display")


@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_unset=True,
    summary="Service and database health",
)
async def healthz(conn: ConnDep, who: CallerDep) -> Health:
    """Whether the service and its database answer, for anyone; the PostGIS version, schema
    revision and incident count only for callers with a key above ``display`` (versions tell
    an attacker what to try; counts are not a public screen's)."""
    postgis, revision, incidents = await svc.health(conn)
    if who.is_public:
        return Health(status="ok", database=True)
    return Health(
        status="ok", database=True, postgis=postgis, schema_revision=revision, incidents=incidents
    )


@router.get("/livez", summary="The process serves (the database is not asked)")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The process can serve requests: its database answers, its schema is the one this "
    "server needs, its in-memory indexes are loaded",
    responses=errors(503),
)
async def readyz(
    pool: PoolDep, index: IncidentIndexDep, roads: RoadsDep, state: StateDep
) -> dict[str, str]:
    reasons = [f"the {name} is not loaded" for name, held in _indexes(index, roads) if not held]
    try:
        # A second at most for a connection: a prober wants a quick no, not a request's wait.
        async with pool.connection(timeout=1) as conn:
            problem = await svc.schema_problem(conn)
    except psycopg.OperationalError:  # (a pool timeout is one)
        reasons.insert(0, "the database does not answer")
    else:
        reasons += [problem] if problem else []
    if reasons:
        raise NotReady("; ".join(reasons), reasons=reasons)
    ready = {"status": "ok"}
    if replicas := state.reads.status():
        # Ready without them (the primary answers their reads); which ones and how far behind
        # is in /metrics (citybrain_replica_up, citybrain_replica_lag_seconds), not here.
        taking = sum(r["takes_reads"] for r in replicas)
        ready["replicas"] = f"{taking} of {len(replicas)} take reads"
    return ready


def _indexes(index: IncidentIndex, roads: RouterHolder) -> list[tuple[str, bool]]:
    # ("heat index": its name in readiness answers and metrics, kept for those who read them)
    return [("heat index", index.loaded), ("road graph", roads.loaded)]


@router.get(
    "/metrics",
    summary="Prometheus metrics of every process of this server (text format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **errors(401, 404)},
)
async def metrics(settings: SettingsDep, state: StateDep, who: PrincipalDep) -> Response:
    # Counts, latencies and pool saturation hold no personal data, but they are not what a
    # public screen shows: by default only callers with a key (any role) read them.
    if settings.metrics_access == "off":
        raise NotFound("metrics are switched off (CITYBRAIN_METRICS_ACCESS=off)")
    if settings.metrics_access == "key" and who.is_public:
        raise Unauthorized(
            "/metrics needs an API key above display; CITYBRAIN_METRICS_ACCESS=anonymous opens it",
            headers={"WWW-Authenticate": "Bearer"},
        )
    sample(state.pool, state.lane)  # this process's gauges as of now
    body, content_type = exposition()
    return Response(body, media_type=content_type)
