"""``citybrain report``: the assessment (考核) of a period as XLSX and PDF (``citybrain.reports``,
figures from ``services.assessment``, the same as ``GET /reports/assessment``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from citybrain.cli.common import console, database_url
from citybrain.domain import ASSESSMENT_LEVELS, COUNTY_CODE, Role
from citybrain.settings import get_settings

app = typer.Typer(help="Reports: the assessment (考核) of a period.", no_args_is_help=True)


@app.command("assessment")
def assessment(
    period: Annotated[str, typer.Option(help="a month (2026-11) or days (2026-11-01..2026-11-15)")],
    level: Annotated[
        list[str] | None,
        typer.Option(help=f"levels, one sheet each ({', '.join(ASSESSMENT_LEVELS)}; default all)"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="where to write: OUT.xlsx and OUT.pdf (default assessment-PERIOD)"),
    ] = None,
    formats: Annotated[str, typer.Option(help="xlsx, pdf or both")] = "xlsx,pdf",
) -> None:
    """Write the assessment of the county's towns, villages, grids, teams and departments over
    a period: cases received, registered, on time at each step, overdue, returned, failed
    checks, repeats and satisfaction."""
    import asyncio

    import psycopg
    import shapely

    from citybrain import clock
    from citybrain.db.connection import libpq_conninfo
    from citybrain.errors import InvalidInput
    from citybrain.people.caller import Area, Caller
    from citybrain.reports import write_pdf, write_xlsx
    from citybrain.services.assessment import assess, check_level
    from citybrain.services.window import period as period_of

    settings = get_settings()
    levels = [check_level(x) for x in (level or ASSESSMENT_LEVELS)]
    kinds = {f.strip() for f in formats.split(",") if f.strip()}
    if not kinds or kinds - {"xlsx", "pdf"}:
        raise InvalidInput(f"formats {formats!r}: xlsx, pdf or both")
    start, end = period_of(period, ZoneInfo(settings.timezone))
    base = out or Path(f"assessment-{period}")
    owner = Caller(str(Role.admin), Area(COUNTY_CODE))  # the county's whole assessment
    now = clock.now(settings)
    conninfo = libpq_conninfo(database_url())

    async def figures() -> dict:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return {lv: await assess(conn, owner, lv, start, end, now) for lv in levels}

    reports = asyncio.run(figures())
    with psycopg.connect(conninfo, autocommit=True) as conn:
        shapes = {
            town_id: shapely.from_wkb(wkb)
            for town_id, wkb in conn.execute(
                "SELECT id, ST_AsBinary(ST_Transform(geom, 3857)) FROM citybrain.towns"
            )
        }
    written = []
    if "xlsx" in kinds:
        write_xlsx(base.with_suffix(".xlsx"), reports)
        written.append(base.with_suffix(".xlsx"))
    if "pdf" in kinds:
        write_pdf(base.with_suffix(".pdf"), reports, shapes)
        written.append(base.with_suffix(".pdf"))
    for level_name, report in reports.items():
        total = report["total"]
        console.print(
            f"{level_name}: {len(report['units'])} units, {total['received']:,} cases received, "
            f"resolved on time {total['resolved_on_time_pct']}%, "
            f"satisfaction {total['satisfaction_pct']}%"
        )
    console.print("written: " + ", ".join(str(p) for p in written))
