"""The synthetic five-level hierarchy: towns → villages/communities → grids → compounds/villager
groups → micro-grids, each level tiling its parent exactly.

Micro-grids are Voronoi cells of points drawn with the population density, clipped to their town,
so they are small in town centres and large in farmland and hold a few dozen households each.
Upper levels are contiguous groups of them (growth on the cells' adjacency graph), so every level
is an exact union of the level below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon

from citybrain.crs import LOCAL
from citybrain.domain import TOWNS, TOWNS_BY_NAME, Town
from citybrain.errors import InvalidInput
from citybrain.synth.geometry import (
    adjacency,
    as_multipolygon,
    county_outline,
    group_cells,
    grow,
    sample_in_polygon,
    voronoi_cells,
)
from citybrain.synth.names import NameBook

MICRO_GRIDS = 10_000
PEOPLE_PER_GRID = 650
MICRO_GRIDS_PER_COMPOUND = 2.5
PARCELS = 4000  # building blocks of the synthetic town polygons


@dataclass
class Density:
    """Residents per km²: town centres (large for the three 街道), natural villages (hamlets)
    scattered through the farmland, and a thin rural base."""

    seats: np.ndarray
    seat_peak: np.ndarray
    seat_sigma: np.ndarray
    hamlets: np.ndarray
    base: float = 120.0
    hamlet_peak: float = 2500.0
    hamlet_sigma: float = 220.0

    def __post_init__(self) -> None:
        self._hamlet_tree = cKDTree(self.hamlets)

    @property
    def maximum(self) -> float:
        """An upper bound (two town centres overlap at most; a few hamlets may)."""
        return self.base + 2 * float(self.seat_peak.max()) + 4 * self.hamlet_peak

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.full(x.shape, self.base)
        for (sx, sy), peak, sigma in zip(self.seats, self.seat_peak, self.seat_sigma, strict=True):
            out += peak * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * sigma**2))
        # Hamlets further than 5 sigma add nothing visible: sum the nearest few only.
        dist, _ = self._hamlet_tree.query(
            np.column_stack([x.ravel(), y.ravel()]), k=4, distance_upper_bound=5 * self.hamlet_sigma
        )
        bumps = np.exp(-(dist**2) / (2 * self.hamlet_sigma**2)).sum(axis=1)  # inf -> 0
        return out + self.hamlet_peak * bumps.reshape(x.shape)


@dataclass
class Level:
    """One level of the hierarchy, in metres: rows ordered by code, ids 1..n."""

    frame: pd.DataFrame  # id, code, name, [kind], parent id column, [population, households]
    geoms: np.ndarray  # MultiPolygons in metres, aligned with frame


@dataclass
class Hierarchy:
    towns: Level
    villages: Level
    grids: Level
    compounds: Level
    micro_grids: Level
    density: Density
    town_of_micro: np.ndarray = field(repr=False)  # town index (0..8) of each micro-grid

    def levels(self) -> dict[str, Level]:
        return {
            "towns": self.towns,
            "villages": self.villages,
            "grids": self.grids,
            "compounds": self.compounds,
            "micro_grids": self.micro_grids,
        }


def seats_metres() -> np.ndarray:
    lon, lat = np.array([t.seat for t in TOWNS]).T
    return np.column_stack(LOCAL.forward(lon, lat))


def read_towns_file(path: Path) -> dict[str, MultiPolygon]:
    """Real town polygons (any format GDAL reads), matched to the towns by name; in metres."""
    import geopandas as gpd

    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InvalidInput(f"cannot read towns file {path}: {exc}") from exc
    if frame.crs is None:
        frame = frame.set_crs(4326)
    frame = frame.to_crs(4326)
    name_col = next((c for c in ("name", "NAME", "名称", "town") if c in frame.columns), None)
    if name_col is None:
        raise InvalidInput(f"{path}: no 'name' column to match the towns by")
    polys: dict[str, MultiPolygon] = {}
    for name, geom in zip(frame[name_col], frame.geometry, strict=True):
        town = TOWNS_BY_NAME.get(str(name).strip())
        if town is None:
            known = ", ".join(TOWNS_BY_NAME)
            raise InvalidInput(f"{path}: town {name!r} is not one of {known}")
        geom = shapely.make_valid(geom)
        polys[town.code] = as_multipolygon(LOCAL.to_metres(geom))
    missing = [t.name for t in TOWNS if t.code not in polys]
    if missing:
        raise InvalidInput(f"{path}: towns missing: {', '.join(missing)}")
    # Real boundaries may overlap a little: the town listed first keeps a disputed sliver.
    taken = None
    for t in TOWNS:
        if taken is not None:
            polys[t.code] = as_multipolygon(shapely.difference(polys[t.code], taken))
        taken = polys[t.code] if taken is None else shapely.union(taken, polys[t.code])
    return polys


def synthetic_towns(seats: np.ndarray, rng: np.random.Generator) -> dict[str, MultiPolygon]:
    """Nine contiguous towns around their real seats, with areas close to the real ones."""
    outline = county_outline(seats)
    pts = sample_in_polygon(outline, PARCELS, rng)
    cells = voronoi_cells(pts, outline)
    edges = adjacency(pts, cells)
    lengths = np.hypot(*(pts[edges[:, 0]] - pts[edges[:, 1]]).T)
    areas = shapely.area(cells)
    sources = [int(((pts - s) ** 2).sum(axis=1).argmin()) for s in seats]
    target = np.array([t.area_km2 for t in TOWNS])
    target = target / target.sum() * areas.sum()
    speeds = np.sqrt(target / target.mean())
    for _ in range(40):
        label = grow(len(pts), edges, lengths, sources, speeds)
        got = np.bincount(label, weights=areas, minlength=len(TOWNS))
        speeds *= (target / np.maximum(got, 1.0)) ** 0.35
    return {
        t.code: as_multipolygon(shapely.union_all(cells[label == i])) for i, t in enumerate(TOWNS)
    }


def make_density(seats: np.ndarray, county, rng: np.random.Generator) -> Density:
    street = np.array([t.is_subdistrict for t in TOWNS])
    hamlets = sample_in_polygon(county, 420, rng)
    return Density(
        seats=seats,
        seat_peak=np.where(street, 16000.0, 9000.0),
        seat_sigma=np.where(street, 1700.0, 850.0),
        hamlets=hamlets,
    )


def _town_cells(
    town: Town, polygon, n_cells: int, density: Density, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pts = sample_in_polygon(polygon, n_cells, rng, density, density.maximum)
    cells = voronoi_cells(pts, polygon)
    keep = ~shapely.is_empty(cells)
    pts, cells = pts[keep], cells[keep]
    edges = adjacency(pts, cells)
    centroids = shapely.get_coordinates(shapely.point_on_surface(cells))
    raw = density(centroids[:, 0], centroids[:, 1]) * shapely.area(cells) / 1e6
    raw *= rng.lognormal(0.0, 0.3, len(raw))
    population = np.maximum(3, np.round(raw / raw.sum() * town.population)).astype(np.int64)
    return cells, edges, centroids, population


def build_hierarchy(
    rng: np.random.Generator,
    towns_file: Path | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> Hierarchy:
    """Build the whole hierarchy (in metres) for a random generator."""
    step = progress or (lambda _msg, _n: None)
    seats = seats_metres()
    town_polys = read_towns_file(towns_file) if towns_file else synthetic_towns(seats, rng)
    county = shapely.union_all(list(town_polys.values()))
    density = make_density(seats, county, rng)
    names = NameBook(rng)
    total_pop = sum(t.population for t in TOWNS)

    rows: dict[str, list[dict]] = {k: [] for k in ("villages", "grids", "compounds", "micro_grids")}
    geoms: dict[str, list] = {k: [] for k in rows}
    town_of_micro: list[int] = []
    for ti, town in enumerate(TOWNS):
        n_cells = round(MICRO_GRIDS * town.population / total_pop)
        cells, edges, cent, pop = _town_cells(town, town_polys[town.code], n_cells, density, rng)
        everything = np.arange(len(cells))
        n_villages = town.villages + town.communities
        v_label = group_cells(cent, edges, everything, n_villages, pop.astype(float), rng)
        # Communities are the densest of the town's villages; codes 001-199 are communities
        # (居委会) and 201-399 villages (村委会), as in the national village codes.
        v_pop = np.bincount(v_label, weights=pop, minlength=n_villages)
        v_area = np.bincount(v_label, weights=shapely.area(cells), minlength=n_villages)
        by_density = np.argsort(-(v_pop / v_area), kind="stable")
        communities = set(by_density[: town.communities].tolist())
        seat = seats[ti]
        v_dist = np.array(
            [np.hypot(*(cent[v_label == v].mean(axis=0) - seat)) for v in range(n_villages)]
        )
        order = sorted(range(n_villages), key=lambda v: (v not in communities, v_dist[v]))
        n_comm = 0
        for v in order:
            is_comm = v in communities
            n_comm += is_comm
            v_seq = n_comm if is_comm else 200 + (order.index(v) - town.communities + 1)
            v_code = f"{town.code}{v_seq:03d}"
            v_name = names.community() if is_comm else names.village()
            rows["villages"].append(
                {
                    "code": v_code,
                    "name": v_name,
                    "kind": "community" if is_comm else "village",
                    "parent": town.code,
                }
            )
            v_members = np.flatnonzero(v_label == v)
            k_g = int(min(len(v_members), max(2, round(pop[v_members].sum() / PEOPLE_PER_GRID))))
            g_label = group_cells(cent, edges, v_members, k_g, pop.astype(float), rng)
            for g in range(k_g):
                g_code = f"{v_code}{g + 1:03d}"
                rows["grids"].append(
                    {"code": g_code, "name": f"{v_name}第{g + 1}网格", "parent": v_code}
                )
                g_members = v_members[g_label == g]
                k_c = int(max(1, round(len(g_members) / MICRO_GRIDS_PER_COMPOUND)))
                c_label = group_cells(cent, edges, g_members, k_c, pop.astype(float), rng)
                for c in range(k_c):
                    c_code = f"{g_code}{c + 1:02d}"
                    c_name = names.compound() if is_comm else f"{v_name}{g + 1}-{c + 1}组"
                    rows["compounds"].append(
                        {
                            "code": c_code,
                            "name": c_name,
                            "kind": "compound" if is_comm else "villager_group",
                            "parent": g_code,
                        }
                    )
                    c_members = g_members[c_label == c]
                    geoms["compounds"].append(shapely.union_all(cells[c_members]))
                    for m_seq, m in enumerate(c_members, start=1):
                        people = int(pop[m])
                        rows["micro_grids"].append(
                            {
                                "code": f"{c_code}{m_seq:02d}",
                                "name": f"{c_name}第{m_seq}微网格",
                                "parent": c_code,
                                "population": people,
                                "households": max(1, round(people / rng.uniform(2.3, 3.1))),
                            }
                        )
                        geoms["micro_grids"].append(cells[m])
                        town_of_micro.append(ti)
                geoms["grids"].append(shapely.union_all(cells[g_members]))
            geoms["villages"].append(shapely.union_all(cells[v_members]))
        step(f"town {town.name}", 1)

    town_frame = pd.DataFrame(
        {
            "id": np.arange(1, len(TOWNS) + 1),
            "code": [t.code for t in TOWNS],
            "name": [t.name for t in TOWNS],
        }
    )
    levels = {
        "towns": Level(town_frame, np.array([town_polys[t.code] for t in TOWNS], dtype=object))
    }
    parent_level = {
        "villages": "towns",
        "grids": "villages",
        "compounds": "grids",
        "micro_grids": "compounds",
    }
    parent_col = {
        "villages": "town_id",
        "grids": "village_id",
        "compounds": "grid_id",
        "micro_grids": "compound_id",
    }
    for name in ("villages", "grids", "compounds", "micro_grids"):
        frame = pd.DataFrame(rows[name])
        order = np.argsort(frame["code"].to_numpy(), kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        g = np.array([as_multipolygon(x) for x in geoms[name]], dtype=object)[order]
        parent_ids = dict(
            zip(
                levels[parent_level[name]].frame["code"],
                levels[parent_level[name]].frame["id"],
                strict=True,
            )
        )
        frame.insert(0, "id", np.arange(1, len(frame) + 1))
        frame[parent_col[name]] = frame.pop("parent").map(parent_ids).astype(np.int64)
        levels[name] = Level(frame, g)
        if name == "micro_grids":
            town_of_micro = np.asarray(town_of_micro)[order]
    return Hierarchy(**levels, density=density, town_of_micro=np.asarray(town_of_micro))
