"""What tells a cache that the data under it changed: small facts with versions in ``meta``
(``roads_version``, ``county_version``, ...) and per-tile write counts in ``tile_versions``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, PrimaryKeyConstraint, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base


class TileVersion(Base):
    """How often the features of ``tbl`` in tile z/x/y have changed: triggers on every source
    table count each write into the tiles its geometry touches (x = y = -1: every tile of the
    zoom; z = -1: every tile). A tile's version is the sum of its rows, so a cached tile is
    current exactly as long as the sum has not moved."""

    __tablename__ = "tile_versions"
    __table_args__ = (PrimaryKeyConstraint("tbl", "z", "x", "y"),)
    tbl: Mapped[str] = mapped_column(Text)
    z: Mapped[int] = mapped_column(SmallInteger)
    x: Mapped[int] = mapped_column(Integer, autoincrement=False)
    y: Mapped[int] = mapped_column(Integer, autoincrement=False)
    v: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Meta(Base):
    """Small key/value facts about the loaded data (e.g. ``roads_version``)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
