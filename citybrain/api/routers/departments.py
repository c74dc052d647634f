"""``/workflow`` (the declared case workflow) and ``/departments`` (the responders beside grid
teams, and which of them may take a case)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from citybrain.api.auth import ReadCasesDep
from citybrain.api.deps import NowDep, ReadConnDep
from citybrain.api.responses import errors
from citybrain.services import departments as svc
from citybrain.workflow import declared

router = APIRouter(tags=["workflow"], responses=errors(400))


class StepOut(BaseModel):
    step: str
    label: str = Field(description="its Chinese name: 立案, 派遣, 核查, ...")
    from_: list[str] = Field(alias="from", description="the statuses it is taken from")
    to: str | None = Field(description="the status it leads to (null: the status stays)")
    roles: list[str] = Field(description="the roles that may take it")
    needs: list[str] = Field(description="what the request must carry")
    holder: str = Field(
        description="anyone (of those roles), holder (a member of the case's team or a handler "
        "of its department; dispatchers speak for them) or not_handler (核查: not who handled it)"
    )
    description: str


class Department(BaseModel):
    id: int
    code: str
    name: str
    kind: str = Field(description="platform (a town's 四个平台) or county (a county department)")
    town_id: int | None
    town: str | None
    categories: list[str]
    phone: str | None
    active: int = Field(description="cases it holds now (dispatched or on site)")


class Candidate(Department):
    can_take: bool
    why_not: str | None


@router.get(
    "/workflow",
    response_model=list[StepOut],
    response_model_by_alias=True,
    summary="The case workflow's steps",
)
async def workflow() -> list[dict[str, Any]]:
    """Every step of the closed loop: from which status, to which, who may take it and what it
    needs (``POST /incidents/{id}/steps/{step}`` takes one)."""
    return declared()


@router.get("/departments", response_model=list[Department], summary="Departments")
async def departments(
    conn: ReadConnDep,
    town_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    category: Annotated[str | None, Query(max_length=20)] = None,
) -> list[dict[str, Any]]:
    """The town's platforms and the county's departments (of a town: its platforms and the
    county's; of a category: those that handle it)."""
    return await svc.listed(conn, town_id, category)


@router.get(
    "/incidents/{incident_id}/departments",
    response_model=list[Candidate],
    responses=errors(401, 403, 404),
    summary="Which departments may take a case",
)
async def candidates(
    incident_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    conn: ReadConnDep,
    who: ReadCasesDep,
    now: NowDep,
) -> list[dict[str, Any]]:
    """The departments serving the case's town, each saying whether it may take the case now
    (escalated to the county: only the county's)."""
    return await svc.for_case(conn, who.who(now), incident_id)
