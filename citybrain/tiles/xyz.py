"""Web Mercator XYZ tile arithmetic shared by every tile path: a tile, its bounds in degrees and
metres, MVT's extent and buffer, and points projected to Web Mercator metres."""

from __future__ import annotations

from dataclasses import dataclass

import mercantile
import numpy as np

from citybrain.errors import InvalidInput

MAX_ZOOM = 22
EXTENT = 4096  # MVT coordinates per tile side
BUFFER = 64  # MVT coordinates drawn beyond each edge, so that strokes join across tiles
WORLD_M = 40075016.685578488  # Web Mercator world width, metres


def mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes in Web Mercator (EPSG:3857) metres."""
    r = WORLD_M / (2 * np.pi)
    return r * np.radians(lon), r * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int

    @classmethod
    def checked(cls, z: int, x: int, y: int) -> Tile:
        if not 0 <= z <= MAX_ZOOM:
            raise InvalidInput(f"zoom {z} is outside 0..{MAX_ZOOM}")
        n = 1 << z
        if not (0 <= x < n and 0 <= y < n):
            raise InvalidInput(f"tile {z}/{x}/{y} is outside the {n}x{n} matrix of zoom {z}")
        return cls(z, x, y)

    @property
    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        b = mercantile.bounds(self.x, self.y, self.z)
        return b.west, b.south, b.east, b.north

    @property
    def mercator_bounds(self) -> tuple[float, float, float, float]:
        b = mercantile.xy_bounds(self.x, self.y, self.z)
        return b.left, b.bottom, b.right, b.top

    def buffered_lonlat_bounds(self, buffer: float = BUFFER / EXTENT) -> tuple[float, ...]:
        w, s, e, n = self.lonlat_bounds
        dx, dy = (e - w) * buffer, (n - s) * buffer
        return max(w - dx, -180.0), max(s - dy, -85.06), min(e + dx, 180.0), min(n + dy, 85.06)
