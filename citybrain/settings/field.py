"""The field app's photos: where they are kept, how large one may be, and the longest side
the server keeps (the phone resizes before sending; the server holds to it whatever sends)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from citybrain.settings.base import Part


class FieldSettings(Part):
    """Photos sent from the field (网格员's phone, POST /photos)."""

    photo_dir: Path | None = Field(
        default=None,
        description="directory the photo store keeps photos in, by their SHA-256 (a directory "
        "several nodes may share). Default: photos/ in CITYBRAIN_DATA_DIR",
    )
    photo_max_mb: float = Field(
        default=8, gt=0, le=100, description="largest photo POST /photos takes, in MB"
    )
    photo_max_side: int = Field(
        default=1600,
        ge=200,
        le=10_000,
        description="longest side of a kept photo, in pixels: a larger one is scaled down",
    )
    photo_max_pixels: int = Field(
        default=25_000_000,
        ge=1_000_000,
        description="pixels a sent photo may declare: more is refused before it is decoded "
        "(a 24-megapixel camera's photo is taken; the field app sends at most 1600x1600)",
    )
