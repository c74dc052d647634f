"""``/hotline/orders``: the 12345 hotline's system pushes each work order as it is taken
(``services.hotline``: one incident per order number, however often pushed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field

from citybrain.api.auth import PushOrdersDep
from citybrain.api.deps import ConnDep, NowDep
from citybrain.api.responses import errors
from citybrain.api.routers.incidents import IncidentIn
from citybrain.services import hotline

router = APIRouter(prefix="/hotline", tags=["incidents"], responses=errors(400, 401, 403, 409))
OrderNo = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")]


class OrderIn(IncidentIn):
    """A work order (工单): where (in ``crs``: the hotline's maps are often GCJ-02), what, when
    it was taken and from whom."""


class OrderTaken(BaseModel):
    order_no: str
    incident_id: int
    created: bool = Field(description="false: an earlier push (or import) made the case")


@router.put(
    "/orders/{order_no}",
    response_model=OrderTaken,
    status_code=status.HTTP_201_CREATED,
    summary="Push a 12345 work order",
)
async def push(
    order_no: OrderNo,
    body: OrderIn,
    conn: ConnDep,
    who: PushOrdersDep,
    now: NowDep,
    response: Response,
) -> dict[str, Any]:
    """Take in work order ``order_no`` (工单编号) as an incident of source ``hotline_12345``: 201
    the first time, 200 with the same incident whenever the order is pushed again (a retry, a
    re-sent batch), so the hotline's system may push at least once without doubling a case.
    The same order pushed with other content by the same key is 409. Pushed by the hotline's
    key (``intake``), a dispatcher's or an admin's: a grid member reports through /incidents."""
    incident_id, created = await hotline.take(
        conn, who.who(now, "PUT /hotline/orders/{order_no}"), order_no, body.report()
    )
    response.headers["Location"] = f"/incidents/{incident_id}"
    if not created:
        response.status_code = status.HTTP_200_OK
    return {"order_no": order_no, "incident_id": incident_id, "created": created}
