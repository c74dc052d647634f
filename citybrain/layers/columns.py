"""A layer's columns as imports and exports see them, and what every layer shares: where a row
is (``lon``/``lat``, ``easting``/``northing``, ``wkt``; incidents' ``address``), the common
columns (``code``, ``name``, ``parent``, ``derived``) with the headers every office uses, and the
vocabulary that lists of categories and team members are written in.

A column's ``choices`` name their source rather than copy it: an enum of ``citybrain.domain``
(``TeamStatus``), or ``categories`` (the incident categories, ``domain.CATEGORIES``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from citybrain import domain
from citybrain.domain import CATEGORIES, MemberRole

Kind = Literal["text", "int", "float", "bool", "time", "enum", "categories", "members"]
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
SHAPEFILE_FIELD_BYTES = 10

# Category names, their slugs and English names, and the short forms offices use.
CATEGORY_NAMES = {
    **{c.slug: c.name for c in CATEGORIES},
    **{c.name_en: c.name for c in CATEGORIES},
    "治安管理": "治安",
    "环境保护": "环境",
    "交通管理": "交通",
    "消防安全": "消防",
}
ROLE_NAMES = {
    "网格员": MemberRole.grid_worker,
    "专职网格员": MemberRole.grid_worker,
    "辅警": MemberRole.auxiliary_police,
    "党员": MemberRole.party_member,
    "法律顾问": MemberRole.legal_adviser,
    "和谐员": MemberRole.mediator,
    "调解员": MemberRole.mediator,
}
ROLES_BY_NAME = {**ROLE_NAMES, **{str(r): r for r in MemberRole}}
# How exports write each role: the first Chinese name above (网格员, 辅警, ...).
ROLE_LABELS = {role: next(k for k, v in ROLE_NAMES.items() if v == role) for role in MemberRole}


def _enums() -> dict[str, type[StrEnum]]:
    return {
        name: value
        for name, value in vars(domain).items()
        if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum
    }


def vocabulary(name: str) -> tuple[str, ...]:
    """The values ``choices: NAME`` stands for: ``categories``, or an enum of the domain."""
    if name == "categories":
        return tuple(c.name for c in CATEGORIES)
    enums = _enums()
    if name not in enums:
        raise ValueError(
            f"{name!r} is no vocabulary: name an enum of citybrain.domain "
            f"({', '.join(sorted(enums))}) or categories, or list the values"
        )
    return tuple(str(v) for v in enums[name])


class Ref(BaseModel):
    """The column holds the code of a row of ``table``; the layer's table stores that row's id
    in ``fk``."""

    model_config = ConfigDict(extra="forbid")
    table: str = Field(pattern=IDENTIFIER)
    fk: str = Field(pattern=IDENTIFIER)


class Column(BaseModel):
    """A column of a layer as imports and exports see it.

    ``aliases``: source headers taken for this column when no ``--map`` names one (first found
    wins; compared without case and surrounding blanks). ``values``: source values translated
    to stored ones before checking, on top of the stored values themselves. ``short``: the
    name in a Shapefile, whose field names stop at 10 bytes. ``ref``: the code of a row of
    another table (stored as its id). ``personal``: may hold personal data (never on a map,
    exported only when asked).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=IDENTIFIER)
    kind: Kind = Field("text", alias="type")
    doc: str = ""
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = Field(
        default=(), description="an enum of citybrain.domain, categories, or the values listed"
    )
    values: dict[str, str] = Field(default_factory=dict)
    short: str | None = None
    personal: bool = False
    ref: Ref | None = None

    @model_validator(mode="before")
    @classmethod
    def _vocabulary(cls, data: Any) -> Any:
        """Categories (as a list, or as the choices of one) take the names offices use."""
        if isinstance(data, dict) and (
            data.get("type") == "categories" or data.get("choices") == "categories"
        ):
            data = {**data, "values": {**CATEGORY_NAMES, **(data.get("values") or {})}}
        return data

    @field_validator("choices", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        return vocabulary(value) if isinstance(value, str) else value

    @field_validator("short")
    @classmethod
    def _fits(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > SHAPEFILE_FIELD_BYTES:
            raise ValueError(f"{value!r} is longer than a Shapefile's 10-byte field names")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if (self.kind == "enum") != bool(self.choices):
            raise ValueError("an enum column needs choices, and only an enum column has them")
        return self

    @property
    def shp_name(self) -> str:
        return self.short or self.name


# Where a row is: not columns of the table, but what its geometry is made from.
LOCATION = (
    Column(
        name="lon",
        type="float",
        doc="longitude in degrees (number or 120°55'12.3\" text), in --crs",
        aliases=("经度", "lon", "lng", "longitude", "x坐标经度", "gps经度"),
    ),
    Column(
        name="lat",
        type="float",
        doc="latitude in degrees, in --crs",
        aliases=("纬度", "lat", "latitude", "gps纬度"),
    ),
    Column(
        name="easting",
        type="float",
        doc="easting in metres of a projected --crs (surveyors call it Y)",
        aliases=("easting", "东坐标"),
    ),
    Column(
        name="northing",
        type="float",
        doc="northing in metres of a projected --crs (surveyors call it X)",
        aliases=("northing", "北坐标"),
    ),
    Column(
        name="wkt",
        type="text",
        doc="geometry as WKT, in --crs",
        aliases=("wkt", "geometry", "geom", "几何"),
    ),
)
# A layer whose import section says ``address: true`` (incidents) places rows by it.
ADDRESS = Column(
    name="address",
    type="text",
    doc="where it happened, as text: placed at the most specific area of the county named in it "
    "when no coordinates are given",
    aliases=("事发地址", "地址", "address", "发生地址", "事件地址"),
)

# The columns many layers have: a layer's column of this name takes these as defaults, its own
# aliases first and these after them; a ``{}`` in a doc is the layer's own doc.
COMMON: dict[str, dict[str, Any]] = {
    "code": {
        "type": "text",
        "required": True,
        "doc": "unique code: the key that re-imports match on",
        "aliases": ("编码", "代码", "code"),
    },
    "name": {"type": "text", "required": True, "doc": "name", "aliases": ("名称", "name")},
    "parent": {
        "type": "text",
        "doc": "{} (else from the code's prefix, else the largest overlap)",
        "aliases": ("parent", "上级编码", "上级代码"),
    },
    "derived": {
        "type": "bool",
        "doc": "true when citybrain drew the polygon (a village from its committee's location) "
        "rather than a survey (default false)",
        "aliases": ("derived",),
    },
}


def with_common(name: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """A layer file's column ``name`` (its mapping, or nothing) with the common defaults."""
    given = dict(given or {})
    common = COMMON.get(name)
    if common is None:
        return {**given, "name": name}
    merged = {**common, **given, "name": name}
    merged["aliases"] = (*given.get("aliases", ()), *common["aliases"])
    if "{}" in common["doc"]:
        merged["doc"] = common["doc"].format(given.get("doc", f"the {name}'s code"))
    return merged
