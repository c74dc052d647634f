"""A layer's declaration, as one pydantic model: what its YAML file in ``layers/`` may say.

It names its source table (and an optional fixed condition), its geometry, its columns with
their types, its natural key, the level above it, and what the map shows: the properties it
exposes, its zoom range, how it is generalised and its MapLibre style. A layer with an
``import`` section is one a county's files can be imported into (and exported from).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from citybrain.domain import PERSONAL
from citybrain.layers.columns import IDENTIFIER, Column, Ref, with_common
from citybrain.tiles.xyz import MAX_ZOOM
from citybrain.yamlfiles import Title


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str = Field(pattern=IDENTIFIER, description="a table of schema citybrain")
    where: str | None = Field(None, description="a fixed SQL condition on the table (trusted)")


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


class ImportSection(BaseModel):
    """The layer takes a county's own files (``citybrain import``, ``POST /imports``) and
    gives them back (``citybrain export``)."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(description="its heading in docs/import.md and `citybrain import --help`")
    address: bool = Field(
        False, description="a row without coordinates may be placed by its address"
    )


def _check_style(style: list[dict[str, Any]], field: str) -> None:
    for i, item in enumerate(style):
        if "type" not in item:
            raise ValueError(f"{field}[{i}] needs a MapLibre layer type")
        for key in ("source", "source-layer"):
            if key in item:
                raise ValueError(f"{field}[{i}]: {key} is set by citybrain, do not give it")


# What the map draws: a change to anything else (a column's doc) leaves cached tiles current.
_NOT_DRAWN = {"columns", "import_", "key", "parent"}


class Layer(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=IDENTIFIER)
    title: Title
    description: str = ""
    source: Source
    geometry: Literal["point", "polygon", "line"]
    columns: dict[str, Column] = Field(
        default_factory=dict,
        description="the columns imports and exports read and write, in order; code, name, "
        "parent and derived take the common defaults (citybrain.layers.columns.COMMON)",
    )
    key: str = Field("code", description="the natural key: re-imports match rows on it")
    case_file: bool = Field(
        False,
        description="its rows have case files: the columns of domain.CASE_FILE (what is not a "
        "public fact) are kept in citybrain.case_files, under row-level security (incidents)",
    )
    parent: Ref | None = Field(None, description="the level above: its table and the foreign key")
    import_: ImportSection | None = Field(None, alias="import")
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

    @field_validator("columns", mode="before")
    @classmethod
    def _common(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            name: with_common(name, spec) if spec is None or isinstance(spec, dict) else spec
            for name, spec in value.items()
        }

    @field_validator("properties")
    @classmethod
    def _no_personal_data(cls, value: list[str], info: ValidationInfo) -> list[str]:
        columns = info.data.get("columns") or {}
        personal = PERSONAL | {c.name for c in columns.values() if c.personal}
        leaked = personal.intersection(value)
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
        self._check_columns()
        return self

    def _check_columns(self) -> None:
        if "parent" in self.columns:
            if self.parent is None:
                raise ValueError("columns.parent: the layer has no parent (give parent)")
            self.columns["parent"].ref = self.columns["parent"].ref or self.parent
        if self.import_ is None:
            return
        if self.key not in self.columns:
            raise ValueError(f"key: {self.key!r} is not one of the columns")
        if self.source.where or self.geometry == "line":
            raise ValueError("import: only a point or polygon layer on a whole table is imported")

    @property
    def table(self) -> str:
        return self.source.table

    @property
    def importable(self) -> bool:
        return self.import_ is not None

    @property
    def personal(self) -> frozenset[str]:
        """Columns that may hold personal data: never drawn, exported only when asked."""
        return PERSONAL | {c.name for c in self.columns.values() if c.personal}

    def column(self, name: str) -> Column:
        return self.columns[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    @property
    def labels_id(self) -> str:
        """The vector-tile layer of the label points."""
        return f"{self.id}_labels"

    @property
    def fingerprint(self) -> str:
        drawn = self.model_dump_json(exclude=_NOT_DRAWN)
        return hashlib.sha256(drawn.encode()).hexdigest()[:12]
