"""``/photos``: photos sent from the field (a report's, a step's), kept by their SHA-256 and
served only to whoever sent them or sees one of the cases they show, never by a public URL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from citybrain.api.auth import PhotosDep, ReadCasesDep
from citybrain.api.deps import NowDep, PhotoStoreDep, PoolDep, ReadConnDep, SettingsDep
from citybrain.api.reads import note_write_position
from citybrain.api.responses import error, errors
from citybrain.api.routers.incidents import IncidentId
from citybrain.errors import InvalidInput, LengthRequired, TooLarge
from citybrain.services import photos as svc

router = APIRouter(tags=["field"], responses=errors(401, 403))
PhotoPath = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="its SHA-256, in hex")]


class Photo(BaseModel):
    id: str = Field(
        description="the SHA-256 of the bytes kept, in hex: what reports and steps name"
    )
    media_type: str
    bytes: int
    width: int
    height: int
    uploaded_at: datetime
    taken_at: datetime | None
    lon: float | None
    lat: float | None
    as_sent: bool = Field(
        description="true: kept byte for byte; false: encoded again without its metadata "
        "(EXIF, XMP, comments) or scaled down to CITYBRAIN_PHOTO_MAX_SIDE"
    )


class CasePhoto(BaseModel):
    id: str
    step: str = Field(description="the step that carried it: report, report_done, verify, ...")
    media_type: str
    width: int
    height: int
    uploaded_by: str
    uploaded_at: datetime
    taken_at: datetime | None
    lon: float | None
    lat: float | None


async def _body(request: Request, max_mb: float) -> bytes:
    """The request's body, refused (413) once past ``max_mb`` whatever its Content-Length says."""
    limit = int(max_mb * 2**20)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise LengthRequired("send the photo with a Content-Length")
    if int(length) > limit:
        raise TooLarge(f"the photo is larger than {max_mb:g} MB (CITYBRAIN_PHOTO_MAX_MB)")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise TooLarge(f"the photo is larger than {max_mb:g} MB (CITYBRAIN_PHOTO_MAX_MB)")
    if not data:
        raise InvalidInput("no photo: send its bytes as the request's body")
    return bytes(data)


@router.post(
    "/photos",
    response_model=Photo,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": Photo, "description": "the caller sent this photo before: as kept then"},
        **errors(400, 411),
        413: error("larger than CITYBRAIN_PHOTO_MAX_MB, or too many pixels"),
        415: error("not a JPEG, PNG or WebP image (read from the bytes)"),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("image/jpeg", "image/png", "image/webp")
            },
        }
    },
    summary="Send a photo",
)
async def send(
    request: Request,
    response: Response,
    pool: PoolDep,
    who: PhotosDep,
    now: NowDep,
    settings: SettingsDep,
    store: PhotoStoreDep,
    taken_at: Annotated[
        AwareDatetime | None, Query(description="when it was taken (with a time zone)")
    ] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="where (WGS84)")] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
) -> dict[str, Any]:
    """The photo's bytes as the body (its type is read from them: JPEG, PNG or WebP). Kept
    by its SHA-256: the id a report (``photos``) or a step (``photos``) then names. Sent again,
    the same photo is the same id (200). What is kept carries no EXIF: a photo with metadata
    is encoded again without it."""
    if (lon is None) != (lat is None):
        raise InvalidInput("a position is lon and lat, both")
    # Read and judged before a database connection is taken: a slow phone holds none.
    data = await _body(request, settings.photo_max_mb)
    bounds = {"max_side": settings.photo_max_side, "max_pixels": settings.photo_max_pixels}
    kept = await svc.accept(store, data, **bounds)
    async with pool.connection() as conn:
        where = {"taken_at": taken_at, "lon": lon, "lat": lat}
        row = await svc.record(conn, who.who(now, "POST /photos"), kept, **where)
        await note_write_position(request, conn)
    response.headers["Location"] = f"/photos/{row['id']}"
    if not row.pop("created"):
        response.status_code = status.HTTP_200_OK
    return row


@router.get(
    "/photos/{photo_id}",
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
        **errors(404),
    },
    response_class=Response,
    summary="A photo",
)
async def read(
    photo_id: PhotoPath, conn: ReadConnDep, who: ReadCasesDep, now: NowDep, store: PhotoStoreDep
) -> Response:
    """A photo, to whoever sent it or sees one of the cases it shows (404 otherwise). Its id is
    its content's hash: it never changes, and the answer may be kept privately."""
    data, media_type = await svc.read(conn, who.who(now, "GET /photos/{id}"), store, photo_id)
    return Response(
        data,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{photo_id}"'},
    )


@router.get(
    "/incidents/{incident_id}/photos",
    response_model=list[CasePhoto],
    responses=errors(404),
    summary="A case's photos",
)
async def of_case(
    incident_id: IncidentId, conn: ReadConnDep, who: ReadCasesDep, now: NowDep
) -> list[dict[str, Any]]:
    """The photos its report and steps carried, in the order sent, for callers who see it."""
    return await svc.of_case(conn, who.who(now), incident_id)
