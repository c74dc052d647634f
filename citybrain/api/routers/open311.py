"""``/open311/v2/``: Open311 GeoReport v2 (``services.open311`` says how citybrain maps onto
it), each resource in JSON or XML by its extension. Reading is as open as the rest of the API
(a request's description only for callers who may read its case file); posting a request needs
an API key or a session of a role that may report, as the ``api_key`` field the specification
names or as a bearer token."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from citybrain.api.auth import PrincipalDep, key_holder, may
from citybrain.api.deps import ConnDep, NowDep, ReadConnDep
from citybrain.api.open311 import PREFIX, RESPONSES, checked, render
from citybrain.domain import Can
from citybrain.errors import InvalidInput
from citybrain.services import open311 as svc

router = APIRouter(prefix=PREFIX.rstrip("/"), tags=["open311"], responses=RESPONSES)
Fmt = Path(description="json or xml")
MAX_FORM_FIELDS = 40


@router.get("/discovery.{fmt}", summary="GeoReport v2 service discovery")
async def discovery(request: Request, fmt: str = Fmt) -> Response:
    base = str(request.base_url).rstrip("/") + PREFIX.rstrip("/")
    return render(
        checked(fmt),
        {
            "changeset": "2026-12-07T00:00:00+08:00",
            "contact": "the county's command centre",
            "key_service": "API keys from the county's administrator (citybrain keys create)",
            "endpoints": [
                {
                    "specification": svc.SPECIFICATION,
                    "url": base,
                    "changeset": "2026-12-07T00:00:00+08:00",
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        },
        "discovery",
    )


@router.get("/services.{fmt}", summary="GeoReport v2 services: the county's categories")
async def services(fmt: str = Fmt) -> Response:
    return render(checked(fmt), svc.services(), "services", "service")


@router.get("/services/{code}.{fmt}", summary="GeoReport v2 service definition")
async def definition(code: str, fmt: str = Fmt) -> Response:
    return render(checked(fmt), svc.definition(code), "service_definition")


@router.get("/requests.{fmt}", summary="GeoReport v2 service requests")
async def requests(
    conn: ReadConnDep,
    who: PrincipalDep,
    now: NowDep,
    fmt: str = Fmt,
    # (bounded so that a request line stays within the server's 16 KB)
    service_request_id: str | None = Query(None, max_length=4000, description="ids, a,b,c"),
    service_code: str | None = Query(None, max_length=300, description="codes, a,b,c"),
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: str | None = Query(None, max_length=20),
) -> Response:
    fmt = checked(fmt)
    found = await svc.requests(
        conn,
        who.who(now, "open311"),
        service_request_id,
        service_code,
        start_date,
        end_date,
        status,
    )
    return render(fmt, found, "service_requests", "request")


@router.get("/requests/{request_id}.{fmt}", summary="GeoReport v2 one service request")
async def one_request(
    conn: ReadConnDep,
    who: PrincipalDep,
    now: NowDep,
    request_id: int = Path(ge=1, le=2**63 - 1),
    fmt: str = Fmt,
) -> Response:
    fmt = checked(fmt)
    found = await svc.request(conn, who.who(now, "open311"), request_id)
    return render(fmt, [found], "service_requests", "request")


@router.post(
    "/requests.{fmt}",
    status_code=201,
    summary="GeoReport v2: post a service request",
    responses={201: RESPONSES[200]},
)
async def post_request(
    request: Request, conn: ConnDep, who: PrincipalDep, now: NowDep, fmt: str = Fmt
) -> Response:
    """Form fields as the specification gives them (``service_code``, ``lat``, ``long``,
    ``description``, ``first_name``, ``last_name``, ``phone``, ``api_key``); WGS84."""
    fmt = checked(fmt)
    async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if who.kind == "anonymous" and fields.get("api_key"):
        who = await key_holder(request, fields["api_key"])
    may(who, Can.report)
    if not fields:
        raise InvalidInput("a form (application/x-www-form-urlencoded) of the request's fields")
    made = await svc.take_in(conn, who.who(now, "open311"), fields)
    return render(fmt, [made], "service_requests", "request", status=201)
