"""The grid member's phone (migration 0024): photos by their content's SHA-256 and the cases
they show, patrols (巡查) with their points and walked track."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    REAL,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base


class Photo(Base):
    """A photo as one sender sent it: the bytes (in the photo store, by ``id``, their SHA-256)
    are shared by every sender of the same content."""

    __tablename__ = "photos"
    __table_args__ = (
        PrimaryKeyConstraint("id", "uploaded_by"),
        CheckConstraint("id ~ '^[0-9a-f]{64}$'", name="ck_photos_id"),
        CheckConstraint("bytes > 0", name="ck_photos_bytes"),
        CheckConstraint("width > 0", name="ck_photos_width"),
        CheckConstraint("height > 0", name="ck_photos_height"),
    )
    id: Mapped[str] = mapped_column(Text, nullable=False)
    uploaded_by: Mapped[str] = mapped_column(Text, nullable=False)
    media_type: Mapped[str] = mapped_column(Text, nullable=False)
    bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom = mapped_column(Geometry("POINT", 4326, spatial_index=False))


class IncidentPhoto(Base):
    """Which case a photo shows, through which step: whoever sees the case may see it."""

    __tablename__ = "incident_photos"
    __table_args__ = (
        Index("ix_incident_photos_photo", "photo_id"),
        ForeignKeyConstraint(["photo_id", "uploaded_by"], ["photos.id", "photos.uploaded_by"]),
    )
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    photo_id: Mapped[str] = mapped_column(Text, primary_key=True)
    step: Mapped[str] = mapped_column(Text, nullable=False)
    uploaded_by: Mapped[str] = mapped_column(Text, nullable=False)  # who carried it in


class Patrol(Base):
    """A member's patrol: started and ended on their phone, known by the phone's key."""

    __tablename__ = "patrols"
    __table_args__ = (
        UniqueConstraint("user_id", "client_key", name="patrols_user_key"),
        CheckConstraint("client_key ~ '^[A-Za-z0-9_-]{8,64}$'", name="ck_patrols_client_key"),
        CheckConstraint("roads_share BETWEEN 0 AND 1", name="ck_patrols_roads_share"),
        Index("ix_patrols_team", "team_id", "started_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    client_key: Mapped[str] = mapped_column(Text, nullable=False)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    track = mapped_column(Geometry("LINESTRINGM", 4326, spatial_index=False))
    length_m: Mapped[float | None] = mapped_column(Float)
    roads_share: Mapped[float | None] = mapped_column(Float)


class PatrolPoint(Base):
    """A point of a patrol, as the phone recorded it (sent again, it is kept once)."""

    __tablename__ = "patrol_points"
    patrol_id: Mapped[int] = mapped_column(
        ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    geom = mapped_column(Geometry("POINT", 4326, spatial_index=False), nullable=False)
    accuracy_m: Mapped[float | None] = mapped_column(REAL)
