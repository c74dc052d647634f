"""Time limits (migration 0021): each category's limit for each step of a case, on the clock
or in working hours, and the working calendar they count on (``citybrain.db.workhours``; the
functions ``work_clock``, ``work_due``, ``step_due`` and ``step_card`` are the migration's)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base


class WorkPeriod(Base):
    """A working session (a working day's morning or afternoon) and the working seconds of all
    the sessions before it."""

    __tablename__ = "work_periods"
    __table_args__ = (
        CheckConstraint("ends > starts", name="work_periods_check"),
        CheckConstraint("before_s >= 0", name="work_periods_before_s_check"),
    )
    starts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    ends: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    before_s: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)


class TimeLimit(Base):
    """A category's time limit for a step (``dispatch``: from report to dispatch; ``resolve``:
    from report to resolution), and the share of it used up when a case is warned (黄牌)."""

    __tablename__ = "time_limits"
    __table_args__ = (
        CheckConstraint("step IN ('dispatch', 'resolve')", name="time_limits_step_check"),
        CheckConstraint("minutes > 0", name="time_limits_minutes_check"),
        CheckConstraint("warn_at > 0 AND warn_at < 1", name="time_limits_warn_at_check"),
    )
    category: Mapped[str] = mapped_column(
        Text, ForeignKey("categories.name", onupdate="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(Text, primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    working: Mapped[bool] = mapped_column(Boolean, nullable=False)
    warn_at: Mapped[Decimal] = mapped_column(Numeric(3, 2), nullable=False, server_default="0.8")
