"""People (migration 0019): accounts with a role and an area, their sessions (by the token's
hash only), failed logins, and the append-only log of reads of unmasked personal data. Row
security on ``users`` and ``access_log`` is the migration's (models do not carry policies)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base, one_of
from citybrain.domain import AREA_LEVELS, PERSON_ROLES, DepartmentKind


class AreaColumns:
    """An area: its code and level, and the ids of the town, village and grid it is or lies in
    (NULL below its level)."""

    area_code: Mapped[str] = mapped_column(Text, nullable=False)
    area_level: Mapped[str] = mapped_column(Text, nullable=False)
    town_id: Mapped[int | None] = mapped_column(ForeignKey("towns.id"))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))


class Department(Base):
    """A department (部门) that takes cases beside grid teams: one of a town's four platforms
    (``kind`` platform, its ``town_id``) or a county department (``kind`` county); the
    categories it handles; its staff are users of role handler (migration 0023)."""

    __tablename__ = "departments"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9A-Za-z_.-]{1,40}$'", name="ck_departments_code"),
        CheckConstraint("length(name) BETWEEN 1 AND 100", name="ck_departments_name"),
        CheckConstraint(one_of("kind", DepartmentKind), name="ck_departments_kind"),
        CheckConstraint("cardinality(categories) >= 1", name="ck_departments_categories"),
        CheckConstraint("(kind = 'platform') = (town_id IS NOT NULL)", name="ck_departments_town"),
        Index("ix_departments_town", "town_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    town_id: Mapped[int | None] = mapped_column(ForeignKey("towns.id", ondelete="CASCADE"))
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    phone: Mapped[str | None] = mapped_column(Text)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))


class User(AreaColumns, Base):
    """A person who acts on citybrain (网格员, 调度员, 部门人员, 领导, 管理员)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("login ~ '^[A-Za-z0-9_.@+-]{2,64}$'", name="ck_users_login"),
        CheckConstraint("length(name) BETWEEN 1 AND 100", name="ck_users_name"),
        CheckConstraint("phone ~ '^\\+?[0-9-]{5,20}$'", name="ck_users_phone"),
        CheckConstraint(one_of("role", PERSON_ROLES), name="ck_users_role"),
        CheckConstraint(one_of("area_level", AREA_LEVELS), name="ck_users_area_level"),
        CheckConstraint(
            "(area_level = 'county') = (town_id IS NULL)"
            " AND (area_level IN ('village', 'grid')) = (village_id IS NOT NULL)"
            " AND (area_level = 'grid') = (grid_id IS NOT NULL)",
            name="ck_users_area",
        ),
        CheckConstraint("role <> 'member' OR team_id IS NOT NULL", name="ck_users_member_team"),
        CheckConstraint("department_id IS NULL OR role = 'handler'", name="ck_users_department"),
        Index(
            "ix_users_department",
            "department_id",
            postgresql_where=text("department_id IS NOT NULL"),
        ),
        Index("users_phone_key", "phone", unique=True, postgresql_where=text("phone IS NOT NULL")),
        Index("ix_users_team", "team_id", postgresql_where=text("team_id IS NOT NULL")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    phone: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL")
    )
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))


class Session(Base):
    """A login's session, known by its token's SHA-256 (the token is shown once)."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user", "user_id"),)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    csrf_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    address: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)


class LoginFailure(Base):
    """A failed login, per account and address: the brute-force bound counts them."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_login", "login", "at"),
        Index("ix_login_failures_address", "address", "at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    login: Mapped[str] = mapped_column(Text, nullable=False)
    address: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AccessLog(Base):
    """Every read of unmasked personal data: who, when, which record, through which route."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_record", "record"),
        Index("ix_access_log_at", "at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    user_id: Mapped[int | None] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(Text, nullable=False)
    record: Mapped[str] = mapped_column(Text, nullable=False)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
