"""``citybrain alerts``: run the early-warning detectors once (or replay them as of a time,
storing nothing) and list the alerts raised. The detectors, their runs and the alerts' store are
``citybrain.alerts``'."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from citybrain.cli.common import console, database_url, table
from citybrain.settings import get_settings

if TYPE_CHECKING:
    import psycopg

    from citybrain.alerts import Detector
    from citybrain.settings import Settings

app = typer.Typer(
    help="Early warning: run the detectors of alerts/*.yaml, list what they raised.",
    no_args_is_help=True,
)


@app.command("run")
def alerts_run(
    detector: Annotated[
        list[str] | None, typer.Option(help="only these detectors (repeatable); default all")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="as of this time, ISO 8601 (without a zone: CITYBRAIN_TIMEZONE): a replay that "
            "prints what the detectors would have found and stores nothing"
        ),
    ] = None,
) -> None:
    """Run detectors once and store what they find, as the server does every interval
    (de-duplicated against the alerts already raised; never beside a server's runner: it waits
    for the same lock)."""
    from citybrain.alerts import load_detectors
    from citybrain.db.connection import connect

    settings = get_settings()
    found = load_detectors(settings.alerts_dir, settings.detector_modules)
    unknown = sorted(set(detector or ()) - set(found))
    if unknown:
        raise typer.BadParameter(
            f"--detector: no {', '.join(unknown)} in {settings.alerts_dir}; "
            f"there: {', '.join(found) or 'none'}"
        )
    now = _as_of(at, settings)
    chosen = [(name, found[name]) for name in detector or found]
    with connect(database_url(migrate=True), autocommit=True) as conn:
        shown = _replay(conn, chosen, now) if at else _run(conn, chosen, now)
    console.print(shown)


def _as_of(at: str | None, settings: Settings) -> datetime:
    from zoneinfo import ZoneInfo

    from citybrain import clock
    from citybrain.errors import InvalidInput
    from citybrain.services.window import instant

    zone = ZoneInfo(settings.timezone)
    try:
        return instant(at, zone, "--at") if at else clock.now(settings).astimezone(zone)
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc.detail)) from exc


def _replay(conn: psycopg.Connection, chosen: list[tuple[str, Detector]], now: datetime) -> Table:
    """What the detectors would have found as of ``now``; nothing is stored."""
    from citybrain.alerts import Run

    shown = table(
        f"what the detectors find as of {now:%Y-%m-%d %H:%M %Z}", "detector", "area", "what"
    )
    for name, found in chosen:
        for f in Run(conn, found, now).findings():
            shown.add_row(name, ", ".join(str(a) for a in f.area_ids[:5]), f.summary)
    return shown


def _run(conn: psycopg.Connection, chosen: list[tuple[str, Detector]], now: datetime) -> Table:
    """Run and store, holding the server runner's lock until the connection closes."""
    from citybrain.alerts.runner import LOCK_KEY, run_detector
    from citybrain.sql import load

    conn.execute(load("cli/wait_for_runner"), {"key": LOCK_KEY})
    shown = table(
        f"detectors run at {now:%Y-%m-%d %H:%M %Z}",
        "detector",
        "found",
        "raised",
        "seconds",
        right=("found", "raised", "seconds"),
    )
    for name, found in chosen:
        ran = run_detector(conn, found, now)
        shown.add_row(name, str(ran.found), str(ran.raised), f"{ran.seconds:.2f}")
    return shown


@app.command("list")
def alerts_list(
    all_: Annotated[bool, typer.Option("--all", help="closed ones too")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The newest alerts: area, what is unusual, status."""
    from citybrain.alerts import store
    from citybrain.db.connection import connect

    with connect(database_url(migrate=True)) as conn:
        rows = store.newest(conn, limit, closed=all_)
    shown = table("alerts", "id", "detector", "area", "what", "status", "since")
    for a in rows:
        shown.add_row(
            str(a["id"]),
            a["detector"],
            a["area_name"],
            a["summary"],
            a["status"] + ("" if a["active"] else " (passed)"),
            f"{a['first_seen']:%m-%d %H:%M}",
        )
    console.print(shown)
