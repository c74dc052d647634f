"""The ``citybrain`` command line: database, synthetic county, validation and the server."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from citybrain.errors import CitybrainError
from citybrain.settings import get_settings

app = typer.Typer(
    help="citybrain: 一图观全域、一屏管全局 — the county governance map service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The PostGIS database: bring it up, migrate it, inspect it.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _database_url(migrate: bool = False) -> str:
    """The database URL, with the database brought up (and migrated) first."""
    from citybrain.db import cluster

    url = cluster.ensure_up(get_settings())
    if migrate:
        from citybrain.db.connection import get_engine
        from citybrain.db.migrate import upgrade

        upgrade(get_engine(url))
    return url


@db_app.command("up")
def db_up() -> None:
    """Start the database (installing PostgreSQL/PostGIS and creating the embedded cluster if
    needed) and create the database with its extensions."""
    from citybrain.db import cluster

    url = cluster.up(get_settings())
    console.print(f"database ready: {url}")


@db_app.command("down")
def db_down() -> None:
    """Stop the embedded PostgreSQL cluster."""
    from citybrain.db import cluster

    stopped = cluster.down(get_settings())
    console.print("stopped" if stopped else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say where the database is and whether it answers; exit 1 when it does not."""
    from citybrain.db import cluster
    from citybrain.db.connection import get_engine
    from citybrain.db.migrate import current_revision, head_revision

    st = cluster.status(get_settings())
    console.print(f"mode: {st.mode}\nurl: {st.url}\nreachable: {st.running}\n{st.detail}")
    if st.running:
        rev = current_revision(get_engine(get_settings().sqlalchemy_url))
        console.print(f"schema revision: {rev or 'none'} (head: {head_revision()})")
    raise typer.Exit(0 if st.running else 1)


@db_app.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply the alembic migrations (brings the database up first)."""
    from citybrain.db.connection import get_engine
    from citybrain.db.migrate import upgrade

    upgrade(get_engine(_database_url()), revision)
    console.print(f"migrated to {revision}")


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
) -> None:
    """Replace the database's contents with a synthetic Jiashan county."""
    from citybrain.db.connection import connect, get_engine
    from citybrain.synth import build_county

    try:
        end_at = datetime.fromisoformat(end).astimezone() if end else None
    except ValueError as exc:
        raise typer.BadParameter(f"--end: {exc}") from exc
    if incidents < 0:
        raise typer.BadParameter("--incidents must be 0 or more")
    url = _database_url(migrate=True)
    if if_empty:
        with connect(url) as conn:
            if conn.execute("SELECT EXISTS (SELECT FROM citybrain.towns)").fetchone()[0]:
                console.print("county already loaded: not seeding (drop --if-empty to replace it)")
                return
    summary = build_county(
        get_engine(url),
        n_incidents=incidents,
        seed=seed,
        towns_file=towns,
        end=end_at,
        progress=True,
    )
    table = Table(title="synthetic Jiashan county")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


@app.command()
def validate() -> None:
    """Check the hierarchy: gaps, overlaps, orphans, points outside every micro-grid."""
    from citybrain.db.connection import connect
    from citybrain.validate import find_violations

    with connect(_database_url()) as conn:
        violations = find_violations(conn)
    if not violations:
        console.print("[green]no violations: every level tiles its parent[/green]")
        return
    # One line per violation, tab-separated: easy to read and to grep.
    print("level\tkind\tcodes\tarea_m2\tdetail")
    for v in violations:
        area = "" if v.area_m2 is None else f"{v.area_m2:.1f}"
        print(f"{v.level}\t{v.kind}\t{','.join(v.codes)}\t{area}\t{v.detail}")
    console.print(f"[red]{len(violations)} violations[/red]")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default CITYBRAIN_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default CITYBRAIN_PORT")] = None,
    workers: Annotated[
        int, typer.Option(help="worker processes (one per core is a good start)")
    ] = 1,
) -> None:
    """Serve the map, the OGC API and the dispatch API."""
    from citybrain.api.server import run

    settings = get_settings()
    _database_url(migrate=True)
    run(host or settings.host, port or settings.port, workers, settings.access_log)


def main() -> None:
    try:
        app()
    except CitybrainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        sys.exit(2)


if __name__ == "__main__":
    main()
