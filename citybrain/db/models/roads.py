"""The road network dispatch routes over, in pgRouting's layout."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base, gist_index, point_column


class RoadVertex(Base):
    """Road network nodes (pgRouting's vertices table)."""

    __tablename__ = "road_vertices"
    __table_args__ = (gist_index("road_vertices"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    geom = point_column()


class Road(Base):
    """Road network edges in pgRouting's layout: ``cost``/``reverse_cost`` are travel seconds."""

    __tablename__ = "roads"
    __table_args__ = (
        gist_index("roads"),
        CheckConstraint("class IN ('arterial', 'street', 'rural')", name="ck_roads_class"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[int] = mapped_column(ForeignKey("road_vertices.id"), index=True, nullable=False)
    target: Mapped[int] = mapped_column(ForeignKey("road_vertices.id"), index=True, nullable=False)
    klass: Mapped[str] = mapped_column("class", Text, nullable=False)
    length_m: Mapped[float] = mapped_column(Float, nullable=False)
    cost: Mapped[float] = mapped_column(Float, nullable=False)
    reverse_cost: Mapped[float] = mapped_column(Float, nullable=False)
    geom = mapped_column(Geometry("LINESTRING", 4326, spatial_index=False), nullable=False)
