"""Declarative layers: one YAML file per layer in ``layers/`` (``CITYBRAIN_LAYERS_DIR``), the
one declaration that the importer, the exporter, the OGC collections, the vector tiles, the
seed and docs/import.md all read (docs/architecture.md: a new map layer).

Files are validated when they are read; a mistake is reported with the file and the field, and
checked against the database when the server starts (the table, its columns, its tile-version
triggers). Adding a layer needs no Python. Personal data (reporters' names and phones, imported
files' own columns) can never be exposed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import psycopg

from citybrain.domain import CASE_FILE
from citybrain.errors import CitybrainError, InvalidInput
from citybrain.layers.columns import ADDRESS, LOCATION, Column
from citybrain.layers.model import Layer
from citybrain.yamlfiles import read_dir

__all__ = [
    "ADDRESS",
    "LOCATION",
    "Column",
    "Layer",
    "LayerConfigError",
    "check_against_database",
    "importable",
    "import_order",
    "load_layers",
    "table_columns",
    "tiled",
]


class LayerConfigError(CitybrainError):
    code = "layer_config"


def load_layers(directory: Path) -> dict[str, Layer]:
    """Read and validate every ``*.yaml`` in ``directory``, ordered by ``order`` then id."""
    layers = read_dir(directory, Layer, LayerConfigError, "CITYBRAIN_LAYERS_DIR")
    for layer in layers.values():
        if layer.labels and layer.labels_id in layers:
            raise LayerConfigError(
                f"{layer.id}.yaml: field labels: its tile layer {layer.labels_id!r} is the id "
                f"of {layer.labels_id}.yaml"
            )
    if not layers:
        raise LayerConfigError(f"no layer files (*.yaml) in {directory}")
    return dict(sorted(layers.items(), key=lambda kv: (kv[1].order, kv[0])))


def import_order(layers: dict[str, Layer]) -> list[Layer]:
    """The importable layers, each right after the level above it (towns, villages, grids,
    compounds, micro-grids, the teams of grids, ...), otherwise in the layers' order."""
    chosen = [layer for layer in layers.values() if layer.importable]
    tables = {layer.table for layer in chosen}
    roots: list[Layer] = []
    children: dict[str, list[Layer]] = {}
    for layer in chosen:
        above = layer.parent.table if layer.parent else None
        if above is None or above not in tables or above == layer.table:
            roots.append(layer)
        else:
            children.setdefault(above, []).append(layer)
    out: list[Layer] = []

    def visit(layer: Layer) -> None:
        out.append(layer)
        for child in children.pop(layer.table, []):
            visit(child)

    for root in roots:
        visit(root)
    placed = {layer.id for layer in out}
    return out + [layer for layer in chosen if layer.id not in placed]  # (levels in a cycle)


@lru_cache(maxsize=8)
def _cached(directory: Path, stamp: tuple) -> dict[str, Layer]:
    """(``stamp``: the files' names, times and sizes, so that a changed file is read again.)"""
    return load_layers(directory)


def _project_layers() -> dict[str, Layer]:
    """The layers of CITYBRAIN_LAYERS_DIR, read again when a file changes."""
    from citybrain.settings import get_settings

    directory = get_settings().layers_dir
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _cached(directory, stamp)


def importable(layer: str | Layer, layers: dict[str, Layer] | None = None) -> Layer:
    """The declaration of the layer named ``layer`` (among ``layers``; default: the files of
    CITYBRAIN_LAYERS_DIR) that a county's files go into; 400 for a name that is none."""
    if isinstance(layer, Layer):
        if not layer.importable:
            raise InvalidInput(f"layer {layer.id!r} takes no imports: its file has no import")
        return layer
    layers = _project_layers() if layers is None else layers
    found = layers.get(layer)
    if found is None or not found.importable:
        names = ", ".join(lay.id for lay in import_order(layers))
        raise InvalidInput(f"unknown layer {layer!r}: one of {names}")
    return found


def tiled(conn: psycopg.Connection, table: str) -> bool:
    """Whether ``table`` counts its writes into tile versions: it carries the triggers that
    ``citybrain.make_layer_table`` (migration 0018) installs."""
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s)",
        [f"citybrain.{table}", f"{table}_tiles_insert"],
    ).fetchone()
    return bool(row and row[0])


def table_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """The columns of ``citybrain.<table>``, in order."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'citybrain' AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
    ]


def check_against_database(layers: dict[str, Layer], conn: psycopg.Connection) -> None:
    """Every layer's table must be a map table of schema citybrain (tile-version triggers
    installed), and every column the layer names must be in it."""
    for layer in layers.values():
        if not tiled(conn, layer.table):
            raise LayerConfigError(
                f"{layer.id}.yaml: field source.table: {layer.table!r} is not a map table of "
                f"schema citybrain (a table with geom, after SELECT "
                f"citybrain.make_layer_table('{layer.table}'))"
            )
        have = set(table_columns(conn, layer.table))
        named = [*layer.properties, *([layer.datetime] if layer.datetime else [])]
        for name in named:
            if name not in have:
                raise LayerConfigError(
                    f"{layer.id}.yaml: field properties/datetime: {layer.table} has no "
                    f"column {name!r}"
                )
        if layer.case_file:  # (its case files hold these: domain.CASE_FILE)
            have |= set(CASE_FILE) & set(table_columns(conn, "case_files"))
        for column in layer.columns.values():
            stored = column.ref.fk if column.ref else column.name
            if stored not in have:
                raise LayerConfigError(
                    f"{layer.id}.yaml: field columns.{column.name}: {layer.table} has no "
                    f"column {stored!r}"
                )
        if layer.source.where:
            try:
                with conn.transaction():
                    conn.execute(
                        f"EXPLAIN SELECT 1 FROM citybrain.{layer.table} WHERE {layer.source.where}"
                    )  # trusted configuration
            except psycopg.Error as exc:
                raise LayerConfigError(f"{layer.id}.yaml: field source.where: {exc}") from exc
