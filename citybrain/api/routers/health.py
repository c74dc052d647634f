"""Liveness and readiness: ``/healthz`` answers 200 only when the database answers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from citybrain.api.deps import ConnDep

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
