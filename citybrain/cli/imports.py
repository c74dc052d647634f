"""``citybrain import`` and ``citybrain export``: a county's own files into a layer and a layer
out to the office's formats. Reading, checking and writing are ``citybrain.importer``'s and
``citybrain.exporter``'s; here the options are parsed and the report printed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citybrain.cli.common import console, database_url, progress, table
from citybrain.settings import get_settings

if TYPE_CHECKING:
    from citybrain.importer.report import Report
    from citybrain.importer.run import Options

app = typer.Typer()


def _import_roster(source: Path, passwords: Path | None, dry_run: bool, encoding, sheet) -> None:
    """``citybrain import users``: a roster into accounts (``people.roster``)."""
    from citybrain import clock
    from citybrain.db.connection import connect
    from citybrain.people.roster import import_roster

    with connect(database_url(migrate=True), autocommit=True) as conn:
        result = import_roster(conn, source, clock.now(), passwords, dry_run, encoding, sheet)
    _print_report(result)
    if result.written and passwords is not None and result.inserted:
        console.print(f"one-time passwords of the {result.inserted} new accounts: {passwords}")
    if not result.ok:
        raise typer.Exit(1)


def _import_departments(source: Path, dry_run: bool, encoding, sheet) -> None:
    """``citybrain import departments``: a county's list of departments (``people.departments``)."""
    from citybrain.db.connection import connect
    from citybrain.people.departments import import_departments

    with connect(database_url(migrate=True), autocommit=True) as conn:
        result = import_departments(conn, source, dry_run, encoding, sheet)
    _print_report(result)
    if not result.ok:
        raise typer.Exit(1)


def _layer_help(layer: str | None) -> str:
    from citybrain.importer.mapping import targets
    from citybrain.layers import import_order, load_layers

    found = {lay.id: lay for lay in import_order(load_layers(get_settings().layers_dir))}
    if layer not in found:
        names = ", ".join([*found, "users", "departments"])
        return f"LAYER is one of: {names} (citybrain import LAYER --help lists its columns)"
    chosen = found[layer]
    lines = [
        f"{chosen.id}: {chosen.import_.title if chosen.import_ else ''}",
        f"key: {chosen.key} (rows are matched by it)",
        "",
    ]
    for column in targets(chosen):
        need = "required" if column.required else "optional"
        aliases = ", ".join(a for a in column.aliases if a != column.name)
        lines.append(f"  {column.name:<14} {column.kind:<10} {need:<9} {column.doc}")
        if aliases:
            lines.append(f"  {'':<14} headers taken without --map: {aliases}")
    return "\n".join(lines)


# --help is the command's own option: with a LAYER it lists that layer's columns, which
# click's help (the same for every layer) cannot.
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
    passwords: Annotated[
        Path | None,
        typer.Option(help="users: the file new accounts' one-time passwords are written to (0600)"),
    ] = None,
    help_: Annotated[
        bool, typer.Option("--help", help="show this and the layer's columns")
    ] = False,
) -> None:
    from citybrain.importer.run import Options
    from citybrain.layers import load_layers

    if layer == "users" and source is not None and not help_:
        return _import_roster(source, passwords, dry_run, encoding, sheet)
    if layer == "departments" and source is not None and not help_:
        return _import_departments(source, dry_run, encoding, sheet)
    if help_ or layer is None or source is None:
        console.print(_layer_help(layer), highlight=False, markup=False)
        if not help_:
            raise typer.Exit(2)
        return
    declared = load_layers(get_settings().layers_dir).get(layer)
    if declared is None or not declared.importable:
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


def _run_import(layer: str, source: Path, options: Options) -> Report:
    import getpass

    from citybrain.db.connection import connect
    from citybrain.importer.run import run_import

    url = database_url()
    with progress(spinner=True) as bar:
        bar.add_task(f"{layer}: read and check {source.name}", total=None)

        def step(what: str, total: int | None):
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
                progress=step,
            )


def _print_report(result: Report) -> None:
    what = (
        "would change (dry run)"
        if result.dry_run
        else (
            "written"
            if result.written
            else "NOT written: rows were rejected (--keep-going writes the rest)"
        )
    )
    counted = ("rows", "inserted", "updated", "unchanged", "rejected", "repaired")
    summary = table(f"import {result.layer} from {result.source}: {what}", *counted, right=counted)
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
    shown = table("report", "outcome", "row", "key", "field", "reason", "value", "area m²")
    for e in entries[:200]:
        shown.add_row(
            e.outcome,
            str(e.row or ""),
            e.key,
            e.field,
            e.reason,
            e.value,
            "" if e.area_m2 is None else f"{e.area_m2:,.1f}",
        )
    console.print(shown, highlight=False, markup=False)
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

    with connect(database_url()) as conn:
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
