"""Early warning: the detector files, the modules that register kinds, the runner."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from citybrain.settings.base import Part


def _default_alerts_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "alerts"


class AlertSettings(Part):
    """Early warning: the detector files, the modules that register kinds, the runner."""

    alerts_dir: Path = Field(
        default_factory=_default_alerts_dir, description="the early-warning detector files"
    )
    alerts_modules: str = Field(
        default="",
        description="modules imported before the detector files are read (comma-separated): "
        "the detector kinds they register may be named in a file's kind:",
    )
    alerts_run: bool = Field(
        default=True,
        description="this server runs the detectors (one process at a time does, whichever "
        "holds the database's lock)",
    )
    alerts_tick_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often the runner looks for due detectors"
    )

    @property
    def detector_modules(self) -> list[str]:
        """The modules of ``CITYBRAIN_ALERTS_MODULES``."""
        return [m.strip() for m in self.alerts_modules.split(",") if m.strip()]
