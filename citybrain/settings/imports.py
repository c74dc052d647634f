"""Imports of a county's files: how large an upload may be, the memory its import may use,
and the modules that register formats of a deployment's own."""

from __future__ import annotations

from pydantic import Field

from citybrain.settings.base import Part


class ImportSettings(Part):
    """Imports of a county's files."""

    import_max_mb: int = Field(
        default=200, ge=1, description="largest body POST /imports/{layer} reads, in MB"
    )
    import_max_memory_mb: int = Field(
        default=2048,
        ge=64,
        description="memory, in MB, an import sent to POST /imports/{layer} may take in the "
        "process of its own it runs in (beyond the ~300 MB its libraries take); one that needs "
        "more is refused (413) and writes nothing. `citybrain import` has no such limit",
    )
    import_modules: str = Field(
        default="",
        description="modules to import before reading a source (comma-separated): each "
        "registers formats of its own with citybrain.importer.formats.register",
    )

    @property
    def format_modules(self) -> list[str]:
        """The modules of ``CITYBRAIN_IMPORT_MODULES``."""
        return [m.strip() for m in self.import_modules.split(",") if m.strip()]
