"""Where kept photos' bytes live: one small interface (``PhotoStore``) and its file-system
implementation (``FileStore``), content-addressed by SHA-256 so that nodes sharing the
directory agree without talking, a photo sent twice is one file, and a backup is a copy of
the directory (docs/operations.md). An object store is another class with these methods.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PhotoStore(Protocol):
    def put(self, sha256: str, data: bytes) -> None:
        """Keep ``data`` under its hash (nothing happens when it is kept already)."""

    def get(self, sha256: str) -> bytes | None:
        """The bytes kept under ``sha256``, or None."""


class FileStore:
    """Photos as files ``<root>/ab/cd/<sha256>``: written to a temporary file in the same
    directory and renamed into place, so a reader never sees half a photo and two nodes
    writing the same photo at once leave one whole file."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None
