"""The point layers that serve residents: grid teams, cameras and facilities. Every point
table (these and ``incidents``) carries its H3 cell and its micro-grid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base, Imported, gist_index, import_index, one_of, point_column
from citybrain.domain import TeamStatus

POINT_TABLES = ("teams", "cameras", "facilities", "incidents")


def point_table_args(table: str, *extra) -> tuple:
    return (
        gist_index(table),
        Index(f"ix_{table}_h3", "h3"),
        Index(f"ix_{table}_micro_grid_id", "micro_grid_id"),
        import_index(table),
        # Resolution 15 is bits 52-55 of the index; cheap proof that the writer used POINT_H3_RES.
        CheckConstraint("(h3 >> 52) & 15 = 15", name=f"ck_{table}_h3_res"),
        *extra,
    )


class PointColumns:
    """Where a point is: its resolution-15 H3 cell, its micro-grid and its geometry."""

    h3: Mapped[int] = mapped_column(BigInteger, nullable=False)
    micro_grid_id: Mapped[int | None] = mapped_column(ForeignKey("micro_grids.id"))
    geom = point_column()


class PointMixin(PointColumns, Imported):
    """A point layer's row: where it is, and where it came from."""


class Team(PointMixin, Base):
    """网格团队 (网格连心、组团服务): one per grid; ``members`` is ``[{"name", "role"}]``."""

    __tablename__ = "teams"
    __table_args__ = point_table_args(
        "teams",
        CheckConstraint(one_of("status", TeamStatus), name="ck_teams_status"),
        CheckConstraint("capacity > 0", name="ck_teams_capacity"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    skills: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    members: Mapped[list[dict]] = mapped_column(JSONB, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    position_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Camera(PointMixin, Base):
    """雪亮工程 cameras. ``heading`` (degrees clockwise from north) and ``fov`` (degrees) give
    the view sector, ``range_m`` its radius; a dome camera has ``fov`` 360."""

    __tablename__ = "cameras"
    __table_args__ = point_table_args(
        "cameras",
        CheckConstraint("kind IN ('bullet', 'dome', 'face', 'plate')", name="ck_cameras_kind"),
        CheckConstraint("heading >= 0 AND heading < 360", name="ck_cameras_heading"),
        CheckConstraint("fov > 0 AND fov <= 360", name="ck_cameras_fov"),
        CheckConstraint("range_m > 0", name="ck_cameras_range"),
        # Bounds the search for cameras covering a point (see services.dispatch).
        CheckConstraint("range_m <= 500", name="ck_cameras_range_max"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    heading: Mapped[float] = mapped_column(Float, nullable=False)
    fov: Mapped[float] = mapped_column(Float, nullable=False)
    range_m: Mapped[float] = mapped_column(Float, nullable=False)
    online: Mapped[bool] = mapped_column(Boolean, nullable=False)
    owner: Mapped[str] = mapped_column(Text, nullable=False)


class Facility(PointMixin, Base):
    """Cultural halls, party-and-people service centres (with ``level``), police posts,
    legal service points and mediation rooms."""

    __tablename__ = "facilities"
    __table_args__ = point_table_args(
        "facilities",
        CheckConstraint(
            "kind IN ('cultural_hall', 'party_service_centre', 'police_post', "
            "'legal_service', 'mediation_room')",
            name="ck_facilities_kind",
        ),
        CheckConstraint(
            "(kind = 'party_service_centre') = (level IS NOT NULL) AND "
            "(level IS NULL OR level IN ('county', 'town', 'village', 'station'))",
            name="ck_facilities_level",
        ),
        Index("ix_facilities_kind", "kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    capacity: Mapped[int | None] = mapped_column(Integer)
