"""The record of imports: one row per import run that wrote a county's own data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.db.models.base import Base


class Import(Base):
    """One import run that wrote (``citybrain import``, ``POST /imports/{layer}``): its source,
    options, who ran it, and what it did. Layer rows point here with ``import_id``."""

    __tablename__ = "imports"
    # The layer's id (its file in layers/): any layer a layer file declares (migration 0018).
    __table_args__ = (CheckConstraint("layer ~ '^[a-z][a-z0-9_]*$'", name="ck_imports_layer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer: Mapped[str] = mapped_column(Text, nullable=False)
    source_name: Mapped[str] = mapped_column(Text, nullable=False)
    source_sha256: Mapped[str] = mapped_column(Text, nullable=False)
    options: Mapped[dict] = mapped_column(JSONB, nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    inserted: Mapped[int] = mapped_column(Integer, nullable=False)
    updated: Mapped[int] = mapped_column(Integer, nullable=False)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False)
    repaired: Mapped[int] = mapped_column(Integer, nullable=False)
