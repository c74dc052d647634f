"""What every table of the schema is built from: the declarative ``Base`` (schema
``citybrain``), the column types and helpers the table modules share, and what every imported
layer row carries about its origin."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, Index, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

SCHEMA = "citybrain"


class XID8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id (never wraps); read and written as text."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "xid8"


ischema_names["xid8"] = XID8  # so that reflection (alembic's comparisons) knows the type


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


def polygon_column() -> Mapped:
    return mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=False), nullable=False)


def point_column() -> Mapped:
    return mapped_column(Geometry("POINT", 4326, spatial_index=False), nullable=False)


def gist_index(table: str) -> Index:
    return Index(f"ix_{table}_geom", "geom", postgresql_using="gist")


def one_of(column: str, values) -> str:
    """A check that ``column`` holds one of ``values`` (a domain set: its words need no
    quoting beyond ``repr``)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Imported:
    """What every layer row carries about its origin (migration 0012): the import run that last
    inserted or changed it (NULL: made by citybrain) and the source's columns that no citybrain
    column takes (may hold personal data: never on a map layer)."""

    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    attributes: Mapped[dict | None] = mapped_column(JSONB)


def import_index(table: str) -> Index:
    return Index(f"ix_{table}_import_id", "import_id", postgresql_where="import_id IS NOT NULL")
