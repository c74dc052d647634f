"""Declarative map layers: one YAML file per layer in ``layers/`` (``CITYBRAIN_LAYERS_DIR``).

A layer names its source table (and an optional fixed condition), the properties it exposes,
its zoom range, how it is generalised and its MapLibre style. Files are validated when the
server starts; a mistake is reported with the file and the field. Adding a layer needs no
Python. Personal data (reporters' names and phones, imported files' own columns) can never be
exposed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from citybrain.db.models import TILED_TABLES
from citybrain.domain import PERSONAL
from citybrain.errors import CitybrainError
from citybrain.tiles import MAX_ZOOM
from citybrain.yamlfiles import Title, read_dir


class LayerConfigError(CitybrainError):
    code = "layer_config"


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str = Field(description="a table of schema citybrain")
    where: str | None = Field(None, description="a fixed SQL condition on the table (trusted)")

    @field_validator("table")
    @classmethod
    def _tiled(cls, value: str) -> str:
        if value not in TILED_TABLES:
            raise ValueError(f"{value!r} is not a map table; one of: {', '.join(TILED_TABLES)}")
        return value


class Cluster(BaseModel):
    """Below ``below_zoom`` a point layer is drawn as clusters with a ``count``: points are
    grouped in squares of ``size_px`` pixels of the tile, never dropped."""

    model_config = ConfigDict(extra="forbid")
    below_zoom: int = Field(ge=1, le=MAX_ZOOM)
    size_px: int = Field(32, ge=4, le=512)


class Labels(BaseModel):
    """Labels of a polygon layer drawn once per polygon: one point inside each polygon
    (``ST_PointOnSurface``) in a vector-tile layer of its own, ``<id>_labels``, with the
    layer's properties. (A symbol on the polygons themselves repeats in every tile that a
    polygon crosses.)"""

    model_config = ConfigDict(extra="forbid")
    style: list[dict[str, Any]] = Field(min_length=1, description="MapLibre symbol layers")


def _check_style(style: list[dict[str, Any]], field: str) -> None:
    for i, item in enumerate(style):
        if "type" not in item:
            raise ValueError(f"{field}[{i}] needs a MapLibre layer type")
        for key in ("source", "source-layer"):
            if key in item:
                raise ValueError(f"{field}[{i}]: {key} is set by citybrain, do not give it")


class Layer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Title
    description: str = ""
    source: Source
    geometry: Literal["point", "polygon", "line"]
    properties: list[str] = Field(default_factory=list)
    datetime: str | None = Field(None, description="the column that OGC datetime filters use")
    minzoom: int = Field(0, ge=0, le=MAX_ZOOM)
    maxzoom: int = Field(MAX_ZOOM, ge=0, le=MAX_ZOOM)
    simplify_px: float = Field(0.5, ge=0, le=8, description="generalisation tolerance, pixels")
    cluster: Cluster | None = None
    order: int = Field(0, description="drawing order in the style (low first)")
    style: list[dict[str, Any]] = Field(default_factory=list, description="MapLibre layers")
    labels: Labels | None = None
    live: bool = Field(
        False,
        description="changes while the screen watches (positions, statuses, new rows): served "
        "only by the API, never written into a tile archive (citybrain tiles export)",
    )
    window: bool = Field(
        False,
        description="incidents only: show the open ones and those of a time window (tile URLs "
        "take last / start / end / category / status, as heatmaps do); clusters come from the "
        "heat index's counts per H3 cell, so their cost does not grow with history",
    )

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == "heatmap":
            raise ValueError("'heatmap' is the incident heatmap's own tile path")
        return value

    @field_validator("properties")
    @classmethod
    def _no_personal_data(cls, value: list[str]) -> list[str]:
        leaked = PERSONAL.intersection(value)
        if leaked:
            raise ValueError(f"personal data may not be exposed: {', '.join(sorted(leaked))}")
        if "id" in value or "geom" in value:
            raise ValueError("id and geom are always there; do not list them")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Layer:
        if self.minzoom > self.maxzoom:
            raise ValueError(f"minzoom {self.minzoom} is above maxzoom {self.maxzoom}")
        if self.cluster and self.geometry != "point":
            raise ValueError("only point layers can be clustered")
        if self.labels and self.geometry != "polygon":
            raise ValueError("only polygon layers have label points")
        if self.window and (self.source.table != "incidents" or self.source.where):
            raise ValueError("window: only the incidents table, unfiltered, has a heat index")
        if self.window and not self.live:
            raise ValueError("window: a windowed layer changes with every incident; set live: true")
        _check_style(self.style, "style")
        if self.labels:
            _check_style(self.labels.style, "labels.style")
        return self

    @property
    def labels_id(self) -> str:
        """The vector-tile layer of the label points."""
        return f"{self.id}_labels"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


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


def check_against_database(layers: dict[str, Layer], conn: psycopg.Connection) -> None:
    """Every property and datetime column a layer names must exist in its table."""
    for layer in layers.values():
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'citybrain' AND table_name = %s",
                [layer.source.table],
            )
        }
        for name in [*layer.properties, *([layer.datetime] if layer.datetime else [])]:
            if name not in columns:
                raise LayerConfigError(
                    f"{layer.id}.yaml: field properties/datetime: {layer.source.table} has no "
                    f"column {name!r}"
                )
        if layer.source.where:
            try:
                with conn.transaction():
                    conn.execute(
                        f"EXPLAIN SELECT 1 FROM citybrain.{layer.source.table} "
                        f"WHERE {layer.source.where}"
                    )  # trusted configuration
            except psycopg.Error as exc:
                raise LayerConfigError(f"{layer.id}.yaml: field source.where: {exc}") from exc
