"""Incidents (事件) and what keeps their record: the categories and their time limits, every
transition in the audit trail, which were deleted, and the keys that make intake idempotent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import XID8, Base, one_of
from citybrain.db.models.points import PointColumns, point_table_args
from citybrain.domain import (
    ACTIVE_STATUSES,
    HEAT_RESOLUTIONS,
    LOCATION_QUALITIES,
    OPEN_STATUSES,
    Satisfaction,
    Source,
    Status,
    Tier,
)


class Category(Base):
    """Incident categories; their time limits are ``limits.TimeLimit``."""

    __tablename__ = "categories"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name_en: Mapped[str] = mapped_column(Text, nullable=False)
    base_tier: Mapped[str] = mapped_column(Text, nullable=False)


class Incident(PointColumns, Base):
    """事件: its public facts (category, time, place, status, who holds it). What is not public
    (the description, the reporter, an imported file's own columns) is its case file
    (``CaseFile``), which row-level security guards (migration 0019)."""

    __tablename__ = "incidents"
    __table_args__ = point_table_args(
        "incidents",
        CheckConstraint(one_of("status", Status), name="ck_incidents_status"),
        CheckConstraint(one_of("tier", Tier), name="ck_incidents_tier"),
        CheckConstraint(one_of("source", Source), name="ck_incidents_source"),
        CheckConstraint("severity BETWEEN 1 AND 4", name="ck_incidents_severity"),
        CheckConstraint(
            one_of("location_quality", LOCATION_QUALITIES), name="ck_incidents_location_quality"
        ),
        *(
            CheckConstraint(f"(h3_{r} >> 52) & 15 = {r}", name=f"ck_incidents_h3_{r}_res")
            for r in HEAT_RESOLUTIONS
        ),
        CheckConstraint(
            "reported_at <= coalesce(dispatched_at, reported_at)"
            " AND coalesce(dispatched_at, reported_at) <= coalesce(on_site_at, 'infinity')"
            " AND coalesce(on_site_at, dispatched_at, reported_at)"
            " <= coalesce(resolved_at, 'infinity')"
            " AND coalesce(resolved_at, reported_at) <= coalesce(closed_at, 'infinity')",
            name="ck_incidents_timeline",
        ),
        CheckConstraint("extension_minutes >= 0", name="ck_incidents_extension"),
        CheckConstraint("extension_asked > 0", name="ck_incidents_extension_asked"),
        CheckConstraint(one_of("satisfaction", Satisfaction), name="ck_incidents_satisfaction"),
        CheckConstraint("team_id IS NULL OR department_id IS NULL", name="ck_incidents_one_holder"),
        Index(
            "ix_incidents_department_id",
            "department_id",
            postgresql_where=text("department_id IS NOT NULL"),
        ),
        Index("ix_incidents_reported_at", "reported_at"),
        # What changed since a transaction: how incident indexes catch up (services/incident_index).
        Index("ix_incidents_changed", "changed"),
        Index("ix_incidents_team_id", "team_id"),
        # What a team holds now: counted under its row lock on every assignment.
        Index(
            "ix_incidents_active_team",
            "team_id",
            postgresql_where=one_of("status", ACTIVE_STATUSES),
        ),
        Index(
            "ix_incidents_open",
            "status",
            postgresql_where=one_of("status", OPEN_STATUSES),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The import run that last inserted or changed it (its file's own columns: the case file).
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    # The source system's own number (a 12345 work order's 工单编号): what imports match on.
    external_id: Mapped[str | None] = mapped_column(Text, unique=True)
    # ``exact``, or the level of the area whose point stands in for an address (imports).
    location_quality: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'exact'")
    )
    category: Mapped[str] = mapped_column(ForeignKey("categories.name"), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    tier: Mapped[str] = mapped_column(Text, nullable=False)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    on_site_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # The department holding it (beside a team: one holder at most; migration 0023).
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The case it was merged into as a duplicate (并案), or repeats (重复件: closed within 30 days).
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    repeat_of: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    # Approved extensions of the resolution limit (its own minutes), and one asked for.
    extension_minutes: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    extension_asked: Mapped[int | None] = mapped_column(Integer)
    supervised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    satisfaction: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # 签收
    escalation_asked: Mapped[str | None] = mapped_column(Text)  # 申请上报: the reason
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The cell containing the point at each heatmap resolution (h3.latlng_to_cell): H3 cells do
    # not nest exactly, so the parent of the resolution-15 cell is not always the cell that
    # contains the point (at resolution 5, for about one point in six).
    h3_5: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_6: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_7: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_8: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_9: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_10: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_11: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The transaction that inserted the row or last changed its time, category, status or cells
    # (the column default and a trigger set it; migration 0007).
    changed: Mapped[str] = mapped_column(
        XID8, nullable=False, server_default=text("pg_current_xact_id()")
    )


class CaseFile(Base):
    """An incident's case file: what was reported and by whom, and the case's scope (where it
    is, who holds it), copied from the incident by trigger so that row-level security reads it
    without a join (migration 0019)."""

    __tablename__ = "case_files"
    __table_args__ = (
        Index("ix_case_files_town", "town_id"),
        Index(
            "ix_case_files_department",
            "department_id",
            postgresql_where=text("department_id IS NOT NULL"),
        ),
        Index("ix_case_files_team", "team_id", postgresql_where=text("team_id IS NOT NULL")),
        Index(
            "ix_case_files_reported_by",
            "reported_by",
            postgresql_where=text("reported_by IS NOT NULL"),
        ),
    )
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    description: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    reported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    attributes: Mapped[dict | None] = mapped_column(JSONB)
    town_id: Mapped[int | None] = mapped_column(Integer)
    village_id: Mapped[int | None] = mapped_column(Integer)
    grid_id: Mapped[int | None] = mapped_column(Integer)
    team_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)


class IncidentDeletion(Base):
    """Which incidents were deleted, by which transaction (a trigger writes it; a truncate of
    ``incidents`` empties it and bumps ``meta.incidents_generation`` instead)."""

    __tablename__ = "incident_deletions"
    __table_args__ = (PrimaryKeyConstraint("xid", "id"),)
    xid: Mapped[str] = mapped_column(XID8, server_default=text("pg_current_xact_id()"))
    id: Mapped[int] = mapped_column(BigInteger, autoincrement=False)


class IncidentEvent(Base):
    """The audit trail: every transition of every incident, with who made it."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # report, or a workflow step
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    from_tier: Mapped[str | None] = mapped_column(Text)
    to_tier: Mapped[str | None] = mapped_column(Text)
    team_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSONB)


class IdempotencyKey(Base):
    """``Idempotency-Key`` of incident intake: a retried report returns the first incident."""

    __tablename__ = "idempotency_keys"
    actor: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text, nullable=False)
    # Empty only inside the transaction that claims the key and reports the incident.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
