"""The ``citybrain`` command line: database, synthetic county, validation and the server."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from citybrain.errors import CitybrainError, InvalidInput
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
keys_app = typer.Typer(
    help="API keys: made here, shown once, stored only as their hash; revoked at once.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
alerts_app = typer.Typer(
    help="Early warning: run the detectors of alerts/*.yaml, list what they raised.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")
tiles_app = typer.Typer(
    help="Tile archives: the static layers as a PMTiles file for a static host or CDN.",
    no_args_is_help=True,
)
app.add_typer(tiles_app, name="tiles")
console = Console(stderr=True)


def _database_url(migrate: bool = False) -> str:
    """The database URL, with the database brought up (and migrated) first."""
    from citybrain.db import cluster

    settings = get_settings()
    cluster.ensure_up(settings)
    # The owner's jobs (migrations, seeds, imports, keys, a detector's session lock) go to the
    # primary itself, never through a transaction pooler (CITYBRAIN_DIRECT_DATABASE_URL).
    url = settings.direct_sqlalchemy_url
    if migrate:
        from citybrain.db.connection import get_engine
        from citybrain.db.migrate import current_revision, head_revision, upgrade

        engine = get_engine(url)
        # Only when behind: a login that may only read the schema (a server's login of its
        # own, a member of citybrain_server) serves a database its owner has migrated.
        if current_revision(engine) != head_revision():
            upgrade(engine)
    return url


@db_app.command("up")
def db_up(
    replica: Annotated[
        int,
        typer.Option(
            help="also start streaming standby N of the embedded cluster (a base backup the "
            "first time; on CITYBRAIN_PG_PORT + N) to list in CITYBRAIN_REPLICA_URLS"
        ),
    ] = 0,
) -> None:
    """Start the database (installing PostgreSQL/PostGIS and creating the embedded cluster if
    needed) and create the database with its extensions."""
    from sqlalchemy.engine import make_url

    from citybrain.db import cluster

    url = cluster.up(get_settings())
    console.print(f"database ready: {make_url(url).render_as_string(hide_password=True)}")
    if replica:
        standby = cluster.up_replica(get_settings(), replica)
        shown = make_url(standby).render_as_string(hide_password=True)
        console.print(
            f"standby {replica} streaming: {shown}\n"
            f"serve reads from it: CITYBRAIN_REPLICA_URLS={shown} (with the password)"
        )


@db_app.command("down")
def db_down(
    replica: Annotated[int, typer.Option(help="stop streaming standby N only")] = 0,
) -> None:
    """Stop the embedded PostgreSQL cluster (or one of its standbys)."""
    from citybrain.db import cluster

    if replica:
        stopped = cluster.down_replica(get_settings(), replica)
    else:
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


@db_app.command("url")
def db_url(
    libpq: Annotated[
        bool, typer.Option("--libpq", help="postgresql://... for psql, QGIS, GDAL, R")
    ] = False,
) -> None:
    """Print the database's URL, password included, for a notebook's create_engine or another
    program (keep it out of shared files: it is a secret)."""
    url = get_settings().direct_sqlalchemy_url
    typer.echo(url.replace("postgresql+psycopg://", "postgresql://", 1) if libpq else url)


@db_app.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply the alembic migrations (brings the database up first)."""
    from citybrain.db import cluster
    from citybrain.db.connection import get_engine
    from citybrain.db.migrate import upgrade

    upgrade(get_engine(_database_url()), revision)
    cluster.ensure_server_login(get_settings())
    console.print(f"migrated to {revision}")


@alerts_app.command("run")
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
    from zoneinfo import ZoneInfo

    from citybrain import clock
    from citybrain.brain.config import load_detectors
    from citybrain.brain.detect import Run
    from citybrain.db.connection import connect
    from citybrain.errors import InvalidInput
    from citybrain.services.alert_runner import LOCK_KEY, run_detector
    from citybrain.services.window import instant

    settings = get_settings()
    found = load_detectors(settings.alerts_dir)
    unknown = sorted(set(detector or ()) - set(found))
    if unknown:
        raise typer.BadParameter(
            f"--detector: no {', '.join(unknown)} in {settings.alerts_dir}; "
            f"there: {', '.join(found) or 'none'}"
        )
    try:
        now = (
            instant(at, ZoneInfo(settings.timezone), "--at")
            if at
            else clock.now(settings).astimezone(ZoneInfo(settings.timezone))
        )
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc.detail)) from exc
    names = detector or list(found)
    with connect(_database_url(migrate=True), autocommit=True) as conn:
        if at:  # a replay: what would have been found, nothing stored
            table = Table(title=f"what the detectors find as of {now:%Y-%m-%d %H:%M %Z}")
            for column in ("detector", "area", "what"):
                table.add_column(column)
            for name in names:
                for f in Run(conn, found[name], now).findings():
                    table.add_row(name, ", ".join(str(a) for a in f.area_ids[:5]), f.summary)
            console.print(table)
            return
        conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])  # never beside the server's
        table = Table(title=f"detectors run at {now:%Y-%m-%d %H:%M %Z}")
        for column in ("detector", "found", "raised", "seconds"):
            table.add_column(column, justify="left" if column == "detector" else "right")
        for name in names:
            ran = run_detector(conn, found[name], now)
            table.add_row(name, str(ran.found), str(ran.raised), f"{ran.seconds:.2f}")
    console.print(table)


@alerts_app.command("list")
def alerts_list(
    all_: Annotated[bool, typer.Option("--all", help="closed ones too")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The newest alerts: area, what is unusual, status."""
    from psycopg.rows import dict_row

    from citybrain.db.connection import connect
    from citybrain.domain import OPEN_ALERT_STATUSES
    from citybrain.sql import load

    with connect(_database_url(migrate=True)) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                load("alerts/list"),
                {
                    "status": None if all_ else [str(s) for s in OPEN_ALERT_STATUSES],
                    "kind": None,
                    "detector": None,
                    "area": None,
                    "since": None,
                    "active": None,
                    "snoozed": None,
                    "now": None,
                    "xmin": None,
                    "ymin": None,
                    "xmax": None,
                    "ymax": None,
                    "limit": limit,
                },
            )
            .fetchall()
        )
    table = Table(title="alerts")
    for column in ("id", "detector", "area", "what", "status", "since"):
        table.add_column(column)
    for a in rows:
        table.add_row(
            str(a["id"]),
            a["detector"],
            a["area_name"],
            a["summary"],
            a["status"] + ("" if a["active"] else " (passed)"),
            f"{a['first_seen']:%m-%d %H:%M}",
        )
    console.print(table)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Argument(help="display, viewer, dispatcher or admin")],
    name: Annotated[str, typer.Option(help="what the audit trail calls its holder")],
) -> None:
    """Make a key: printed once (192 random bits); only its hash is kept."""
    from citybrain.db.connection import connect
    from citybrain.services import keys

    with connect(_database_url(migrate=True), autocommit=True) as conn:
        key = keys.create(conn, role, name)
    console.print(f"key {name!r} ({role}) made; it is shown only now:")
    print(key)


@keys_app.command("list")
def keys_list() -> None:
    """Every key's name, role and dates (never a key)."""
    from citybrain.db.connection import connect
    from citybrain.services import keys

    with connect(_database_url(migrate=True)) as conn:
        rows = keys.listed(conn)
    table = Table(title="API keys")
    for column in ("name", "role", "created", "revoked"):
        table.add_column(column)
    for name, role, created, revoked in rows:
        table.add_row(
            name, role, f"{created:%Y-%m-%d %H:%M}", f"{revoked:%Y-%m-%d %H:%M}" if revoked else ""
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key: every server refuses it within a second."""
    from citybrain.db.connection import connect
    from citybrain.services import keys

    with connect(_database_url(migrate=True), autocommit=True) as conn:
        keys.revoke(conn, name)
    console.print(f"key {name!r} revoked")


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
    from citybrain.synth import build_county

    try:
        end_at = datetime.fromisoformat(end).astimezone() if end else None
    except ValueError as exc:
        raise typer.BadParameter(f"--end: {exc}") from exc
    if incidents < 0:
        raise typer.BadParameter("--incidents must be 0 or more")
    if outbreaks < 0 or (outbreaks and not incidents):
        raise typer.BadParameter("--outbreaks needs --incidents above 0, and is 0 or more")
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
        keep=[k.strip() for k in keep.split(",") if k.strip()],
        outbreaks=outbreaks,
    )
    table = Table(title="synthetic Jiashan county")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    for level, parents in summary.filled.items():
        console.print(
            f"filled: no {level} were imported in {', '.join(parents)}; generated there and "
            "marked derived (import the real ones and seed --keep again to use them)"
        )


def _layer_help(layer: str | None) -> str:
    from citybrain.importer.mapping import targets
    from citybrain.importer.spec import LAYERS, SPECS

    if layer not in SPECS:
        return (
            f"LAYER is one of: {', '.join(LAYERS)} "
            "(citybrain import LAYER --help lists its columns)"
        )
    spec = SPECS[layer]
    lines = [f"{spec.name}: {spec.title}", f"key: {spec.key} (rows are matched by it)", ""]
    for column in targets(spec):
        need = "required" if column.required else "optional"
        aliases = ", ".join(column.aliases)
        lines.append(f"  {column.name:<14} {column.kind:<10} {need:<9} {column.doc}")
        if aliases:
            lines.append(f"  {'':<14} headers taken without --map: {aliases}")
    return "\n".join(lines)


@app.command(
    "import",
    context_settings={"help_option_names": []},
    help="Import a county's own data into LAYER: Shapefile, GeoPackage, GeoJSON, GeoParquet, "
    "CSV or XLSX. All or nothing unless --keep-going; --dry-run writes nothing. "
    "`citybrain import LAYER --help` lists the layer's columns.",
)
def import_(
    layer: Annotated[
        str | None,
        typer.Argument(help="the layer (citybrain import --help lists them)"),
    ] = None,
    source: Annotated[Path | None, typer.Argument(help="the file to read")] = None,
    crs: Annotated[
        str | None, typer.Option(help="EPSG:n, gcj02, bd09 or wgs84 (default: the file's own)")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="text encoding (default: declared, else UTF-8 or GBK found)")
    ] = None,
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="TARGET=SOURCE_FIELD, repeatable")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="YAML file: fields, values, defaults")
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="XLSX sheet (default: the first with rows)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="write nothing; say what would change")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="write the report's rows to this CSV file")
    ] = None,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="write the good rows, report the rest")
    ] = False,
    tolerance: Annotated[
        float | None,
        typer.Option(help="metres: gaps, overlaps and slivers narrower are repaired (default 5)"),
    ] = None,
    help_: Annotated[
        bool, typer.Option("--help", help="show this and the layer's columns")
    ] = False,
) -> None:
    from citybrain.importer.run import Options
    from citybrain.importer.spec import SPECS

    if help_ or layer is None or source is None:
        console.print(_layer_help(layer), highlight=False, markup=False)
        if not help_:
            raise typer.Exit(2)
        return
    if layer not in SPECS:
        raise typer.BadParameter(_layer_help(None))
    options = Options(
        crs=crs,
        encoding=encoding,
        maps=list(map_ or []),
        mapping_file=mapping,
        sheet=sheet,
        dry_run=dry_run,
        keep_going=keep_going,
        **({"tolerance_m": tolerance} if tolerance is not None else {}),
    )
    result = _run_import(layer, source, options)
    _print_report(result)
    if report is not None:
        result.write_csv(report)
        console.print(f"report written to {report}")
    if not result.ok and not keep_going:
        raise typer.Exit(1)


def _run_import(layer: str, source: Path, options):
    import getpass

    from rich.progress import SpinnerColumn

    from citybrain.db.connection import connect
    from citybrain.importer.run import run_import

    url = _database_url()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(f"{layer}: read and check {source.name}", total=None)

        def progress(what: str, total: int | None):
            task = bar.add_task(what, total=total)
            return lambda n: bar.advance(task, n)

        with connect(url) as conn:
            return run_import(
                conn,
                layer,
                source,
                options,
                actor=f"cli:{getpass.getuser()}",
                timezone=get_settings().timezone,
                progress=progress,
            )


def _print_report(result) -> None:
    what = (
        "would change (dry run)"
        if result.dry_run
        else (
            "written"
            if result.written
            else "NOT written: rows were rejected (--keep-going writes the rest)"
        )
    )
    summary = Table(title=f"import {result.layer} from {result.source}: {what}")
    for name in ("rows", "inserted", "updated", "unchanged", "rejected", "repaired"):
        summary.add_column(name, justify="right")
    summary.add_row(*(f"{v:,}" for v in result.counts().values()))
    console.print(summary)
    console.print(
        f"crs: {result.crs or '-'}   encoding: {result.encoding or '-'}   "
        f"columns: {', '.join(f'{k}={v}' for k, v in result.mapping.items())}",
        highlight=False,
        markup=False,
    )
    entries = result.sorted_entries()
    if not entries:
        return
    table = Table(title="report")
    for name in ("outcome", "row", "key", "field", "reason", "value", "area m²"):
        table.add_column(name)
    for e in entries[:200]:
        table.add_row(
            e.outcome,
            str(e.row or ""),
            e.key,
            e.field,
            e.reason,
            e.value,
            "" if e.area_m2 is None else f"{e.area_m2:,.1f}",
        )
    console.print(table, highlight=False, markup=False)
    if len(entries) > 200:
        console.print(f"... and {len(entries) - 200} more entries (--report FILE has them all)")


@app.command("export")
def export_(
    layer: Annotated[str, typer.Argument(help="the layer to write (as citybrain import takes it)")],
    target: Annotated[Path, typer.Argument(help="the file to write")],
    format_: Annotated[
        str | None,
        typer.Option(
            "--format", help="gpkg, geojson, shp, parquet, csv or xlsx (default: by suffix)"
        ),
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="EPSG:n, gcj02, bd09 or wgs84 (default wgs84)")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="COLUMN OP VALUE, repeatable (ANDed): = != < <= > >= ~ (LIKE, * wildcard)"
        ),
    ] = None,
    points: Annotated[
        bool,
        typer.Option("--points", help="polygons as one point inside each (e.g. village seats)"),
    ] = False,
    personal: Annotated[
        bool,
        typer.Option(
            "--personal", help="also write personal data: reporters, the source's own columns"
        ),
    ] = False,
) -> None:
    """Write LAYER (filtered) to TARGET for the tools the office uses; Chinese kept in UTF-8."""
    from citybrain.db.connection import connect
    from citybrain.exporter import export_layer

    with connect(_database_url()) as conn:
        done = export_layer(
            conn,
            layer,
            target,
            fmt=format_,
            crs=crs,
            where=list(where or []),
            timezone=get_settings().timezone,
            points=points,
            personal=personal,
        )
    for note in done.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(f"{done.rows:,} {layer} written to {done.path}")


@tiles_app.command("export")
def tiles_export(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="static layers to write (default: all not live), then optionally the archive "
            "(a name ending in .pmtiles; default tiles/citybrain.pmtiles)",
            show_default=False,
            metavar="[LAYERS]... [OUT.pmtiles]",
        ),
    ] = None,
    minzoom: Annotated[int, typer.Option(help="first zoom written")] = 8,
    maxzoom: Annotated[int, typer.Option(help="last zoom written")] = 14,
    bbox: Annotated[
        str | None,
        typer.Option(help="minlon,minlat,maxlon,maxlat in WGS84 (default: the county's bounds)"),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="where the archive will be served, for its TileJSON (default: its name)"),
    ] = None,
) -> None:
    """Write the static layers (hierarchy, roads, facilities: every layer file without
    ``live: true``) as a PMTiles archive, tile for tile what the API serves (gzip-compressed),
    with its TileJSON beside it. Live layers (incidents, teams, cameras, alerts, heatmap) stay
    on the API."""
    from citybrain.archive import DEFAULT_ARCHIVE, export
    from citybrain.layers import load_layers
    from citybrain.services.bbox import parse

    names = list(args or [])
    out = Path(names.pop()) if names and names[-1].endswith(".pmtiles") else DEFAULT_ARCHIVE
    for name in names:
        if "." in name or "/" in name:
            raise InvalidInput(f"{name}: not a layer; the archive is the last name, *.pmtiles")
    box = parse(bbox, "--bbox") if bbox is not None else None
    layers = load_layers(get_settings().layers_dir)
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:

        def progress(total: int):
            task = bar.add_task(f"tiles z{minzoom}-{maxzoom}", total=total)
            return lambda n: bar.advance(task, n)

        done = export(
            _database_url(),
            layers,
            names,
            out,
            minzoom,
            maxzoom,
            bbox=box,
            served_at=url,
            progress=progress,
        )
    console.print(
        f"{done.written:,} tiles ({done.visited - done.written:,} empty, left out) written to "
        f"{done.path} ({done.path.stat().st_size / 2**20:.1f} MB), TileJSON {done.tilejson}",
        highlight=False,
    )


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
        int, typer.Option(help="public worker processes (one per core is a good start)")
    ] = 1,
) -> None:
    """Serve the map, the OGC API and the dispatch API: ``--workers`` public processes on the
    port, and one for callers with a key on CITYBRAIN_DISPATCH_PORT (8001) that public load
    cannot slow down."""
    from citybrain.api.runas import drop_root
    from citybrain.api.server import run

    settings = get_settings()
    port = port or settings.port
    if settings.dispatch_port == port:
        raise InvalidInput(
            f"port {port} is also CITYBRAIN_DISPATCH_PORT: give the dispatch process another "
            "port (or 0 for none)"
        )
    from citybrain.db import cluster

    _database_url(migrate=True)
    cluster.ensure_server_login(settings)  # the login of the request connections (owns nothing)
    os.environ["CITYBRAIN_PORT"] = str(port)  # the processes' settings name the public port
    drop_root(settings)  # as root: serve as CITYBRAIN_SERVE_USER, which holds no owner's secret
    run(
        host or settings.host,
        port,
        workers,
        settings.access_log,
        settings.forwarded_allow_ips,
        settings.dispatch_port,
        settings.public_nice,
    )


def main() -> None:
    try:
        app()
    except CitybrainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        sys.exit(2)


if __name__ == "__main__":
    main()
