"""Early warnings (``citybrain.alerts``): the alerts, their audit trail, the detectors' runs,
and the outbreaks a synthetic county was seeded with to test them against."""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base, gist_index, one_of, point_column, polygon_column
from citybrain.domain import AlertKind, AlertStatus


class Alert(Base):
    """An early warning (``citybrain.alerts``): an area where something unusual is going on,
    found by a detector, kept as one row while it lasts (a growing cluster updates it)."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(one_of("kind", AlertKind), name="ck_alerts_kind"),
        CheckConstraint(one_of("status", AlertStatus), name="ck_alerts_status"),
        gist_index("alerts"),
        Index("ix_alerts_active", "detector", "category", postgresql_where=text("active")),
        Index("ix_alerts_updated", "updated_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    detector: Mapped[str] = mapped_column(Text, nullable=False)  # its file's name in alerts/
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str | None] = mapped_column(Text)  # None: every category
    level: Mapped[str] = mapped_column(Text, nullable=False)  # compounds, villages, h3_9, ...
    area_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    area_name: Mapped[str] = mapped_column(Text, nullable=False)
    geom = polygon_column()
    summary: Mapped[str] = mapped_column(Text, nullable=False)  # what is unusual, in one line
    summary_en: Mapped[str | None] = mapped_column(Text)  # the same, in English
    observed: Mapped[int] = mapped_column(Integer, nullable=False)
    expected: Mapped[float | None] = mapped_column(Float)
    statistic: Mapped[float] = mapped_column(Float, nullable=False)
    p_value: Mapped[float | None] = mapped_column(Float)
    recurrence_days: Mapped[float | None] = mapped_column(Float)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    incident_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'new'"))
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )


class AlertEvent(Base):
    """The alerts' audit trail (append-only): who acknowledged, dispatched, closed, snoozed."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert", "alert_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # raise, ack, dispatch, close, snooze
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DetectorRun(Base):
    """One run of one detector: when, how long, what it found (the runner's schedule and the
    cost a command centre watches)."""

    __tablename__ = "detector_runs"
    __table_args__ = (Index("ix_detector_runs_detector", "detector", "started_at"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    detector: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    found: Mapped[int] = mapped_column(Integer, nullable=False)
    raised: Mapped[int] = mapped_column(Integer, nullable=False)


class Outbreak(Base):
    """Ground truth of the synthetic county: a cluster ``citybrain seed --outbreaks`` put in."""

    __tablename__ = "outbreaks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    compound_code: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    geom = point_column()
    incident_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)
