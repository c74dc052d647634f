"""Who may call the API: the keys ``citybrain keys`` makes (their hashes, never the keys)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, LargeBinary, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base, one_of
from citybrain.domain import AREA_LEVELS, KEY_ROLES


class ApiKey(Base):
    """An API key (``citybrain keys``): its name, role and SHA-256; never the key itself."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("name ~ '^[A-Za-z0-9_.@-]{1,64}$'", name="ck_api_keys_name"),
        CheckConstraint(one_of("role", KEY_ROLES), name="ck_api_keys_role"),
        CheckConstraint(one_of("area_level", AREA_LEVELS), name="ck_api_keys_area_level"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Machines act in an area too (migration 0019; the county unless said).
    area_code: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'330421'"))
    area_level: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'county'"))
    town_id: Mapped[int | None] = mapped_column(ForeignKey("towns.id"))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
