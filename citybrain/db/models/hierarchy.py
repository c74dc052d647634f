"""The governance hierarchy: five polygon levels, each tiling its parent exactly, and the H3
cells that map a point onto them (``h3_coverage``, and H3's own grid constants)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base, Imported, gist_index, import_index, polygon_column


class Area(Imported):
    """A polygon level; ``derived``: its geometry was built by citybrain (a village drawn around
    its committee's location), not surveyed."""

    derived: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


def area_table_args(table: str, *extra) -> tuple:
    return (gist_index(table), import_index(table), *extra)


class Town(Area, Base):
    """镇/街道."""

    __tablename__ = "towns"
    __table_args__ = area_table_args("towns")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    geom = polygon_column()


class Village(Area, Base):
    """村/社区: ``kind`` is ``village`` or ``community``."""

    __tablename__ = "villages"
    __table_args__ = area_table_args(
        "villages", CheckConstraint("kind IN ('village', 'community')", name="ck_villages_kind")
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), index=True, nullable=False)
    geom = polygon_column()


class Grid(Area, Base):
    """网格 (全科网格)."""

    __tablename__ = "grids"
    __table_args__ = area_table_args("grids")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True, nullable=False)
    geom = polygon_column()


class Compound(Area, Base):
    """小区/村民小组: ``kind`` is ``compound`` or ``villager_group``."""

    __tablename__ = "compounds"
    __table_args__ = area_table_args(
        "compounds",
        CheckConstraint("kind IN ('compound', 'villager_group')", name="ck_compounds_kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True, nullable=False)
    geom = polygon_column()


class MicroGrid(Area, Base):
    """微网格: a few dozen households."""

    __tablename__ = "micro_grids"
    __table_args__ = area_table_args(
        "micro_grids",
        CheckConstraint("population >= 0 AND households >= 0", name="ck_micro_grids_people"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id"), index=True, nullable=False)
    population: Mapped[int] = mapped_column(Integer, nullable=False)
    households: Mapped[int] = mapped_column(Integer, nullable=False)
    geom = polygon_column()


class H3Coverage(Base):
    """Resolution-11 H3 cells whose centre lies in the county, with their micro-grid."""

    __tablename__ = "h3_coverage"
    h3: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    micro_grid_id: Mapped[int] = mapped_column(
        ForeignKey("micro_grids.id", ondelete="CASCADE"), index=True, nullable=False
    )


class H3Face(Base):
    """H3's grid constants, read by ``citybrain.h3_latlng_to_cells`` (migration 0010): per
    icosahedron face its centre (radians, and as a unit vector), the azimuth of its Class II
    i axis, and at each resolution-0 position (i, j, k in 0..2; element 9i + 3j + k + 1) the
    base cell there and the 60-degree counter-clockwise turns into that cell's orientation."""

    __tablename__ = "h3_faces"
    face: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lng: Mapped[float] = mapped_column(Float, nullable=False)
    x: Mapped[float] = mapped_column(Float, nullable=False)
    y: Mapped[float] = mapped_column(Float, nullable=False)
    z: Mapped[float] = mapped_column(Float, nullable=False)
    i_azimuth: Mapped[float] = mapped_column(Float, nullable=False)
    base_cells: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)
    ccw_rotations: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)
