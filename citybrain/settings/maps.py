"""The map: layer files, tiles and their caches and archive, the shared incident index."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field

from citybrain.settings.base import Part


def _default_layers_dir() -> Path:
    # The repository's layers/ next to the package (or the image's /app/layers).
    return Path(__file__).resolve().parents[2] / "layers"


class MapSettings(Part):
    """The map: layer files, tiles and their caches and archive, the shared incident index."""

    layers_dir: Path = Field(default_factory=_default_layers_dir)
    tile_cache_mb: int = Field(default=256, description="memory for cached tiles, per process")
    tile_archive_url: str | None = Field(
        default=None,
        description="where the static layers' PMTiles archive is served (citybrain tiles export; "
        "any static host or CDN): /style.json?archive=true draws them from it",
    )
    heat_shared: bool = Field(
        default=True,
        description="one copy of the heat index's sorted base per machine, mapped by every "
        "server process (false: each process holds its own, as on a platform without /dev/shm)",
    )
    heat_shared_dir: Path = Field(
        default_factory=lambda: Path(
            "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        ),
        description="where the shared heat index files live (memory-backed /dev/shm where there "
        "is one; a file system's directory works too, through the page cache)",
    )
