"""Places for addresses without coordinates, offline: the county's own names.

A work order's address (``嘉善县魏塘街道XX社区XX小区3幢``) is searched for the names of the
county's compounds, grids, villages and towns (one Aho-Corasick pass over all of them). The
most specific level named wins; a name several areas share is settled by the other names in
the address (the compound whose village is also named), else the address falls back to the
next level up that it names unambiguously. A match places the incident at that area's
representative point (``ST_PointOnSurface``) with ``location_quality`` = the level. No service
is called: a county's intranet has none, and its own names are better.
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick
import numpy as np
import pandas as pd
import psycopg

from citybrain.domain import LocationQuality

# Most specific first; each with the chain of its ancestors (ids), as the hierarchy joins them.
LEVELS = (
    (
        LocationQuality.compound,
        "SELECT cp.id, cp.name, cp.grid_id, g.village_id, v.town_id, "
        "ST_X(ST_PointOnSurface(cp.geom)), ST_Y(ST_PointOnSurface(cp.geom)) "
        "FROM citybrain.compounds cp JOIN citybrain.grids g ON g.id = cp.grid_id "
        "JOIN citybrain.villages v ON v.id = g.village_id",
    ),
    (
        LocationQuality.grid,
        "SELECT g.id, g.name, NULL::int, g.village_id, v.town_id, "
        "ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) "
        "FROM citybrain.grids g JOIN citybrain.villages v ON v.id = g.village_id",
    ),
    (
        LocationQuality.village,
        "SELECT v.id, v.name, NULL::int, NULL::int, v.town_id, "
        "ST_X(ST_PointOnSurface(v.geom)), ST_Y(ST_PointOnSurface(v.geom)) "
        "FROM citybrain.villages v",
    ),
    (
        LocationQuality.town,
        "SELECT t.id, t.name, NULL::int, NULL::int, NULL::int, "
        "ST_X(ST_PointOnSurface(t.geom)), ST_Y(ST_PointOnSurface(t.geom)) FROM citybrain.towns t",
    ),
)
_RANK = {q: i for i, (q, _) in enumerate(LEVELS)}
MIN_NAME = 2  # one-character names would match everywhere


@dataclass(frozen=True)
class Area:
    quality: LocationQuality
    id: int
    grid: int | None
    village: int | None
    town: int | None
    lon: float
    lat: float


class Gazetteer:
    def __init__(self, conn: psycopg.Connection):
        self.automaton = ahocorasick.Automaton()
        entries: dict[str, list[Area]] = {}
        for quality, query in LEVELS:
            for id_, name, grid, village, town, lon, lat in conn.execute(query):
                if name and len(name) >= MIN_NAME:
                    entries.setdefault(name, []).append(
                        Area(quality, id_, grid, village, town, lon, lat)
                    )
        for name, areas in entries.items():
            self.automaton.add_word(name, (name, areas))
        self.empty = not entries
        if not self.empty:
            self.automaton.make_automaton()

    def place(self, address: str) -> Area | None:
        if self.empty or not address:
            return None
        found = [a for _, (_, areas) in self.automaton.iter(address) for a in areas]
        if not found:
            return None
        named = {(a.quality, a.id) for a in found}
        for quality, _ in LEVELS:
            candidates = {a for a in found if a.quality == quality}
            if len(candidates) > 1:
                candidates = {a for a in candidates if self._consistent(a, named)} or candidates
            if len(candidates) == 1:
                return candidates.pop()
        return None

    @staticmethod
    def _consistent(area: Area, named: set) -> bool:
        """Every ancestor level the address names agrees with this area's ancestors."""
        named_levels = {q for q, _ in named}
        for quality, ancestor in (
            (LocationQuality.grid, area.grid),
            (LocationQuality.village, area.village),
            (LocationQuality.town, area.town),
        ):
            if (
                ancestor is not None
                and quality in named_levels
                and (quality, ancestor) not in named
            ):
                return False
        return True

    def place_all(self, addresses: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """lon, lat and quality for each address (NaN / None where nothing matched); each
        distinct address is looked up once."""
        text = addresses.astype(object).where(addresses.notna(), None)
        cache: dict[str, Area | None] = {}
        lon = np.full(len(text), np.nan)
        lat = np.full(len(text), np.nan)
        quality = np.full(len(text), None, dtype=object)
        for i, a in enumerate(text.to_numpy()):
            if a is None:
                continue
            if a not in cache:
                cache[a] = self.place(str(a))
            hit = cache[a]
            if hit is not None:
                lon[i], lat[i], quality[i] = hit.lon, hit.lat, str(hit.quality)
        return lon, lat, quality
