"""All citybrain settings, read from ``CITYBRAIN_*`` environment variables or a ``.env`` file.

One class per concern (its module says what it holds: ``database``, ``server``, ``access``,
``limits``, ``imports``, ``maps``, ``alerts``, ``timekeeping``, ``field``); ``Settings`` is all
of them, and every setting keeps its one ``CITYBRAIN_`` name whichever group it is in.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from citybrain.settings.access import MIN_KEY_CHARS, AccessSettings
from citybrain.settings.alerts import AlertSettings
from citybrain.settings.database import IMPORT_LOGIN, SERVER_LOGIN, DatabaseSettings
from citybrain.settings.field import FieldSettings
from citybrain.settings.imports import ImportSettings
from citybrain.settings.limits import LimitSettings
from citybrain.settings.maps import MapSettings
from citybrain.settings.server import ServerSettings
from citybrain.settings.timekeeping import TimeSettings

__all__ = ["IMPORT_LOGIN", "MIN_KEY_CHARS", "SERVER_LOGIN", "Settings", "get_settings"]


class Settings(
    DatabaseSettings,
    ServerSettings,
    AccessSettings,
    LimitSettings,
    ImportSettings,
    MapSettings,
    AlertSettings,
    TimeSettings,
    FieldSettings,
):
    """citybrain settings.

    ``database_url`` is an SQLAlchemy URL with the psycopg 3 driver, for example
    ``postgresql+psycopg://postgres@127.0.0.1:5432/citybrain``. When it is unset, citybrain
    runs its own PostgreSQL cluster in ``data_dir`` on ``pg_port`` (see ``citybrain db up``).
    """

    @property
    def photos_path(self) -> Path:
        """Where the photo store keeps photos (``photo_dir``, or photos/ in ``data_dir``)."""
        return self.photo_dir if self.photo_dir is not None else self.data_dir / "photos"


@lru_cache
def get_settings() -> Settings:
    return Settings()
