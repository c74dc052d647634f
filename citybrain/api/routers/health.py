"""Liveness and readiness, for load balancers and supervisors: ``/livez`` answers while the
process serves (no database asked: a database outage must not get servers restarted);
``/readyz`` and ``/healthz`` answer 200 only when the database answers (503 otherwise),
``/healthz`` with what it found."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from citybrain.api.deps import ConnDep, PoolDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: bool
    postgis: str
    schema_revision: str | None
    incidents: int


@router.get("/healthz", response_model=Health, summary="Service and database health")
async def healthz(conn: ConnDep) -> Health:
    row = await (
        await conn.execute(
            "SELECT postgis_lib_version(), "
            "(SELECT version_num FROM citybrain.alembic_version LIMIT 1), "
            "(SELECT greatest(reltuples, 0)::bigint FROM pg_class "
            " WHERE oid = 'citybrain.incidents'::regclass)"
        )
    ).fetchone()
    return Health(
        status="ok", database=True, postgis=row[0], schema_revision=row[1], incidents=row[2]
    )


@router.get("/livez", summary="The process serves (the database is not asked)")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can serve requests: its database answers")
async def readyz(pool: PoolDep) -> dict[str, str]:
    # A second at most for a connection: a prober wants a quick no, not a request's wait.
    async with pool.connection(timeout=1) as conn:
        await conn.execute("SELECT 1")
    return {"status": "ok"}
