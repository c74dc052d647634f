"""``POST /imports/{layer}``: the same import as ``citybrain import``, for admins over HTTP.

The body is ``multipart/form-data``: ``file`` (one file, a zipped Shapefile, or a Shapefile's
parts as several ``file`` parts) and the command's options as fields. ``dry_run`` is on unless
the request says ``false``. The key is checked before the body is read, and the body's size is
bounded (``CITYBRAIN_IMPORT_MAX_MB``). The import runs in a process of its own with bounded
memory (``CITYBRAIN_IMPORT_MAX_MEMORY_MB``, ``importer.isolated``), and reads the file as
``citybrain import`` does: its bytes decide its format (``importer.formats``).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from citybrain.api.auth import ImportDep, Principal
from citybrain.api.deps import StateDep
from citybrain.api.reads import note_position_now
from citybrain.api.responses import JSON, error, errors
from citybrain.errors import CitybrainError, Conflict, InvalidInput, LengthRequired, TooLarge
from citybrain.importer import formats
from citybrain.importer.repair import TOLERANCE_M
from citybrain.importer.report import Report
from citybrain.importer.values import parse_bool
from citybrain.layers import Layer, importable
from citybrain.metrics import IMPORTS

router = APIRouter(tags=["imports"])
_SAFE = re.compile(r"[^\w.\-]+", re.UNICODE)
MAX_ENTRIES = 1000  # report entries in an answer; the counts are always complete

BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "the source: one file (CSV, XLSX, GeoPackage, GeoJSON, "
                        "GeoParquet, a zipped Shapefile) or a Shapefile's parts",
                    },
                    "crs": {"type": "string", "description": "EPSG:n, gcj02, bd09, wgs84"},
                    "encoding": {"type": "string"},
                    "map": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "TARGET=SOURCE_FIELD",
                    },
                    "mapping": {"type": "string", "description": "the mapping file's YAML"},
                    "sheet": {"type": "string"},
                    "dry_run": {"type": "boolean", "default": True},
                    "keep_going": {"type": "boolean", "default": False},
                    "tolerance": {"type": "number", "default": 5.0},
                },
            }
        }
    },
}


@router.post(
    "/imports/{layer}",
    summary="Import a county's own file into a layer (admin)",
    openapi_extra={"requestBody": BODY},
    response_class=JSON,
    responses={
        **errors(400, 401, 403),
        413: error(
            "the body is larger than CITYBRAIN_IMPORT_MAX_MB, a zip or workbook unpacks to more "
            "than four times that, or the import needed more than CITYBRAIN_IMPORT_MAX_MEMORY_MB"
        ),
        411: error("the body's length was not given"),
        409: error("another import is running in this server process"),
        422: error("rows were rejected: nothing was written; the report is in `report`"),
    },
)
async def import_file(
    request: Request,
    who: ImportDep,
    state: StateDep,
    layer: Annotated[
        str,
        PathParam(
            description="a layer whose file in layers/ has an import section (`citybrain "
            "import --help` lists them)",
            pattern="^[a-z_]+$",
        ),
    ],
) -> Any:
    declared = importable(layer, state.layers)
    _check_length(request, state.settings.import_max_mb)
    if state.import_lock.locked():  # an import holds a core for seconds to minutes
        raise Conflict("another import is running in this server process: try again later")
    async with state.import_lock:
        return await _import(request, who, state.settings, declared)


async def _import(request: Request, who: Principal, settings, layer: Layer) -> JSON:
    from citybrain.importer.run import Options

    form = await request.form(max_files=20, max_fields=100)
    try:
        with tempfile.TemporaryDirectory(prefix="citybrain-import-") as tmp:
            source, name = await _save(form, Path(tmp))
            options = Options(
                crs=_text(form, "crs"),
                encoding=_text(form, "encoding"),
                maps=[str(v) for v in form.getlist("map")],
                mapping_file=await _mapping(form, Path(tmp)),
                sheet=_text(form, "sheet"),
                dry_run=_flag(form, "dry_run", True),
                keep_going=_flag(form, "keep_going", False),
                tolerance_m=_number(form, "tolerance", TOLERANCE_M),
            )
            report = await run_in_threadpool(
                _run, settings, layer, source, options, who.actor, name
            )
    finally:
        await form.close()
    if not options.dry_run:
        await note_position_now(request)  # (Citybrain-LSN: read the import back anywhere)
    body = report.as_dict(max_entries=MAX_ENTRIES)
    if report.ok or options.keep_going:
        return JSON(body)
    return JSON(
        {
            "code": "import_rejected",
            "detail": f"{report.rejected} rows rejected: nothing written "
            "(keep_going writes the rest)",
            "report": body,
        },
        status_code=422,
    )


def _run(settings, layer, source, options, actor, name) -> Report:
    from citybrain.importer import isolated

    outcome = "failed"
    budget_mb = formats.UNPACK_GROWTH * settings.import_max_mb
    try:
        # A bomb or a file that is not what its name says is refused here, in a moment,
        # without a process started for it.
        formats.screen(source, name, formats.unpack_budget(budget_mb))
        report = isolated.run_import(
            settings.import_sqlalchemy_url,  # the import login (or the owner), on the primary
            layer,
            source,
            options,
            actor,
            settings.timezone,
            name,
            max_unpacked_mb=budget_mb,
            max_memory_mb=settings.import_max_memory_mb,
        )
        outcome = "written" if report.written else "dry_run" if options.dry_run else "rejected"
        return report
    except CitybrainError:
        outcome = "refused"  # the source as a whole (unreadable, too large, no location, ...)
        raise
    finally:
        IMPORTS.labels(layer.id, outcome).inc()


def _check_length(request: Request, max_mb: int) -> None:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise LengthRequired("send the body with a Content-Length")
    if int(length) > max_mb * 2**20:
        raise TooLarge(f"the body is larger than {max_mb} MB (CITYBRAIN_IMPORT_MAX_MB)")


async def _save(form, folder: Path) -> tuple[Path, str]:
    """The uploaded parts as files in ``folder`` (names reduced to safe characters); the one
    to read (a Shapefile's ``.shp`` when several parts came). Names of formats citybrain does
    not import are refused here, before anything is written; what the files hold is judged
    when they are read."""
    parts = [p for p in form.getlist("file") if isinstance(p, UploadFile)]
    if not parts:
        raise InvalidInput("no file: send the source as the multipart field 'file'")
    saved: list[Path] = []
    for part in parts:
        name = _SAFE.sub("_", Path(part.filename or "upload").name).strip("._") or "upload"
        path = folder / name
        allowed = (
            formats.SHAPEFILE_PARTS
            if len(parts) > 1
            else {*formats.SUFFIXES, *formats.registered_suffixes()}
        )
        if path.suffix.lower() not in allowed:
            raise formats.refuse(name, "not a format citybrain imports")
        with path.open("wb") as out:
            while chunk := await part.read(1 << 20):
                out.write(chunk)
        saved.append(path)
    if len(saved) == 1:
        return saved[0], Path(parts[0].filename or saved[0].name).name
    shp = [p for p in saved if p.suffix.lower() == ".shp"]
    if len(shp) != 1:
        raise InvalidInput(
            "several files were sent: they must be one Shapefile's parts (.shp, .dbf, ...)"
        )
    return shp[0], shp[0].name


async def _mapping(form, folder: Path) -> Path | None:
    value = form.get("mapping")
    if value is None:
        return None
    path = folder / "mapping.yaml"
    data = await value.read() if isinstance(value, UploadFile) else str(value).encode()
    path.write_bytes(data)
    return path


def _text(form, name: str) -> str | None:
    value = form.get(name)
    return (
        str(value).strip() or None
        if value is not None and not isinstance(value, UploadFile)
        else None
    )


def _flag(form, name: str, default: bool) -> bool:
    value = _text(form, name)
    if value is None:
        return default
    parsed, bad = parse_bool(pd.Series([value], dtype=object))
    if bad.iloc[0]:
        raise InvalidInput(f"{name}: {value!r} is not true or false")
    return bool(parsed.iloc[0])


def _number(form, name: str, default: float) -> float:
    value = _text(form, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not a number") from None
    if not 0 <= number <= 100:
        raise InvalidInput(f"{name}: {number} is not between 0 and 100 metres")
    return number
