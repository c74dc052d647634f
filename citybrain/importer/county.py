"""What an import checks rows against: the county as the database holds it now (its towns'
outline, each level's codes and polygons, the teams), read once per import."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from citybrain.domain import COUNTY_REGION


@dataclass
class Areas:
    """One polygon level: ids, codes and names aligned with WGS84 geometries."""

    frame: pd.DataFrame  # id, code, name, derived, imported
    geoms: np.ndarray

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geoms)

    @cached_property
    def by_code(self) -> dict[str, int]:
        return dict(zip(self.frame["code"], range(len(self.frame)), strict=True))

    def __len__(self) -> int:
        return len(self.frame)


class County:
    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self._levels: dict[str, Areas] = {}

    def level(self, table: str) -> Areas:
        if table not in self._levels:
            rows = self.conn.execute(
                sql.SQL(
                    "SELECT id, code, name, derived, import_id IS NOT NULL, ST_AsBinary(geom) "
                    "FROM {} ORDER BY id"
                ).format(sql.Identifier("citybrain", table))
            ).fetchall()
            frame = pd.DataFrame(
                [r[:5] for r in rows], columns=["id", "code", "name", "derived", "imported"]
            ).astype(
                {"id": "int64", "code": object, "name": object, "derived": bool, "imported": bool}
            )
            geoms = np.array(shapely.from_wkb([bytes(r[5]) for r in rows]), dtype=object)
            self._levels[table] = Areas(frame, geoms.reshape(-1))
        return self._levels[table]

    @cached_property
    def outline(self):
        """The county: the union of its towns (None before any town is loaded)."""
        towns = self.level("towns")
        if not len(towns):
            return None
        outline = shapely.union_all(towns.geoms)
        shapely.prepare(outline)
        return outline

    def inside(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Which points lie in the county (in its region, before any town is loaded)."""
        if self.outline is None:
            w, s, e, n = COUNTY_REGION
            return (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
        return shapely.intersects_xy(self.outline, lon, lat)  # its edge included

    @cached_property
    def teams(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT code, id FROM citybrain.teams").fetchall())
