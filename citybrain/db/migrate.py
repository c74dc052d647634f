"""Alembic migrations, run programmatically so that the installed package carries them.

Each migration is frozen: it applies its own versioned file in ``migrations/sql/`` (named after
it, never edited once released) or its own literal SQL, and imports neither another migration
nor a live citybrain module. A migration that must put back what an earlier one made applies
the earlier one's SQL file again.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from citybrain.db import workhours
from citybrain.settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision``, then write the working calendar (``workhours``) from the
    installed ``holidays`` package and ``CITYBRAIN_WORK_HOURS`` (a table derived whole, so
    that a newer package's year comes in with the next ``db migrate``)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        if raw.execute("SELECT to_regclass('citybrain.work_periods')").fetchone()[0]:
            settings = get_settings()
            workhours.store(raw, workhours.Calendar.of(settings.work_hours, settings.timezone))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": "citybrain"})
        return ctx.get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def known_revisions() -> frozenset[str]:
    """Every revision of this code's migrations (a schema at another one is newer)."""
    scripts = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return frozenset(r.revision for r in scripts.walk_revisions())
