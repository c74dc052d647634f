"""``citybrain seed``: fill the database with a synthetic Jiashan county, or fill in around a
county's own imported data (``--keep``). The county is ``citybrain.synth``'s."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citybrain.cli.common import console, database_url, table

if TYPE_CHECKING:
    from citybrain.synth import Seeded

app = typer.Typer()


@app.command()
def seed(
    incidents: Annotated[
        int, typer.Option(help="number of incidents over the past 365 days")
    ] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="random seed: same seed, same county")] = 1,
    towns: Annotated[
        Path | None, typer.Option(help="GeoJSON/GeoPackage of real town polygons to subdivide")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="end of the incident year, ISO 8601 (default: this hour)"),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="do nothing when the county is already loaded")
    ] = False,
    keep: Annotated[
        str,
        typer.Option(
            help="levels to keep as loaded, from the top (towns or towns,villages,...), and "
            "cameras / facilities; the rest is generated inside them"
        ),
    ] = "",
    outbreaks: Annotated[
        int,
        typer.Option(
            help="clusters to inject for measuring early warning (recorded in the outbreaks "
            "table; the normal seed has none)"
        ),
    ] = 0,
) -> None:
    """Replace the database's contents with a synthetic Jiashan county (or, with --keep, fill
    in what a county's own imported data leaves out)."""
    from citybrain.db.connection import connect, get_engine
    from citybrain.sql import load
    from citybrain.synth import build_county

    try:
        end_at = datetime.fromisoformat(end).astimezone() if end else None
    except ValueError as exc:
        raise typer.BadParameter(f"--end: {exc}") from exc
    if incidents < 0:
        raise typer.BadParameter("--incidents must be 0 or more")
    if outbreaks < 0 or (outbreaks and not incidents):
        raise typer.BadParameter("--outbreaks needs --incidents above 0, and is 0 or more")
    url = database_url(migrate=True)
    if if_empty:
        with connect(url) as conn:
            if conn.execute(load("cli/county_loaded")).fetchone()[0]:
                console.print("county already loaded: not seeding (drop --if-empty to replace it)")
                return
    summary = build_county(
        get_engine(url),
        n_incidents=incidents,
        seed=seed,
        towns_file=towns,
        end=end_at,
        progress=True,
        keep=[k.strip() for k in keep.split(",") if k.strip()],
        outbreaks=outbreaks,
    )
    _print_summary(summary)
    _show_password(summary.password, summary.get("users", 0))


def _show_password(password: str, accounts: int) -> None:
    """The seeded people's password, shown once and kept in a file only its owner reads."""
    from citybrain.settings import get_settings

    folder = get_settings().data_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "seeded-people.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            f"{password}\n# the password of the seeded county's {accounts} accounts "
            "(admin, leader, dispatcher, d-<town code>, h-<department code>, m<team>-<n>): "
            "citybrain users list\n"
        )
    os.chmod(path, 0o600)
    console.print(
        f"people: {accounts:,} accounts (admin, leader, dispatcher, d-<town code>, h-<dept code>, "
        f"m<team id>-<n>), all with the password {password} (kept in {path}, 0600)"
    )


def _print_summary(summary: Seeded) -> None:
    shown = table("synthetic Jiashan county", "table", "rows", right=("rows",))
    for name, count in summary.items():
        shown.add_row(name, f"{count:,}")
    console.print(shown)
    for level, parents in summary.filled.items():
        console.print(
            f"filled: no {level} were imported in {', '.join(parents)}; generated there and "
            "marked derived (import the real ones and seed --keep again to use them)"
        )
