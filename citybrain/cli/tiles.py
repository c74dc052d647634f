"""``citybrain tiles``: the static layers written as a PMTiles archive for a static host or CDN
(``citybrain.tiles.archive`` writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from citybrain.cli.common import console, database_url, progress
from citybrain.errors import InvalidInput
from citybrain.settings import get_settings

app = typer.Typer(
    help="Tile archives: the static layers as a PMTiles file for a static host or CDN.",
    no_args_is_help=True,
)


@app.command("export")
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
    from citybrain.layers import load_layers
    from citybrain.services.bbox import parse
    from citybrain.tiles.archive import DEFAULT_ARCHIVE, export

    names = list(args or [])
    out = Path(names.pop()) if names and names[-1].endswith(".pmtiles") else DEFAULT_ARCHIVE
    for name in names:
        if "." in name or "/" in name:
            raise InvalidInput(f"{name}: not a layer; the archive is the last name, *.pmtiles")
    box = parse(bbox, "--bbox") if bbox is not None else None
    layers = load_layers(get_settings().layers_dir)
    with progress() as bar:

        def step(total: int):
            task = bar.add_task(f"tiles z{minzoom}-{maxzoom}", total=total)
            return lambda n: bar.advance(task, n)

        done = export(
            database_url(),
            layers,
            names,
            out,
            minzoom,
            maxzoom,
            bbox=box,
            served_at=url,
            progress=step,
        )
    console.print(
        f"{done.written:,} tiles ({done.visited - done.written:,} empty, left out) written to "
        f"{done.path} ({done.path.stat().st_size / 2**20:.1f} MB), TileJSON {done.tilejson}",
        highlight=False,
    )
