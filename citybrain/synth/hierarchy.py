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
from citybrain.domain import LEVELS, TOWNS, TOWNS_BY_NAME, Town
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
    wgs: np.ndarray | None = None  # a kept level's geometry as loaded (written back as it was)


@dataclass
class Hierarchy:
    towns: Level
    villages: Level
    grids: Level
    compounds: Level
    micro_grids: Level
    density: Density
    town_of_micro: np.ndarray = field(repr=False)  # town index (0..8) of each micro-grid
    # seed --keep: per kept level, the parents none of whose rows were imported (a pilot
    # county with villages for some towns only): their rows were generated, marked derived.
    filled: dict[str, list[str]] = field(default_factory=dict)

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


def _cells_in(
    population: float, polygon, n_cells: int, density: Density, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Micro-grid cells tiling ``polygon``: Voronoi cells of points drawn with the density,
    their adjacency, representative points, and ``population`` shared among them."""
    pts = sample_in_polygon(polygon, max(n_cells, 1), rng, density, density.maximum)
    cells = voronoi_cells(pts, polygon) if len(pts) > 1 else np.array([as_multipolygon(polygon)])
    keep = ~shapely.is_empty(cells)
    pts, cells = pts[keep], cells[keep]
    edges = adjacency(pts, cells)
    centroids = shapely.get_coordinates(shapely.point_on_surface(cells))
    raw = density(centroids[:, 0], centroids[:, 1]) * shapely.area(cells) / 1e6
    raw *= rng.lognormal(0.0, 0.3, len(raw))
    people = np.maximum(3, np.round(raw / raw.sum() * population)).astype(np.int64)
    return cells, edges, centroids, people


def density_mass(polygon, density: Density, rng: np.random.Generator, samples: int = 400) -> float:
    """Residents a polygon holds by the density (a Monte Carlo estimate)."""
    pts = sample_in_polygon(polygon, samples, rng)
    return float(density(pts[:, 0], pts[:, 1]).mean() * polygon.area / 1e6)


@dataclass
class KeptLevel:
    """A level kept as loaded (``seed --keep``): its rows (``code``, ``name``, ``parent``:
    the parent's code, and whatever else is kept as it is), their geometry in metres (to
    subdivide) and as loaded (written back unchanged)."""

    frame: pd.DataFrame
    geoms: np.ndarray
    wgs: np.ndarray

    def children_of(self, parent_code: str) -> np.ndarray:
        return np.flatnonzero(self.frame["parent"].to_numpy() == parent_code)


PARENT_COL = {
    "villages": "town_id",
    "grids": "village_id",
    "compounds": "grid_id",
    "micro_grids": "compound_id",
}


class _Builder:
    """Rows of the levels below the towns, generated (or kept) town by town."""

    def __init__(self, rng, density: Density, kept: dict[str, KeptLevel]):
        self.rng = rng
        self.density = density
        self.kept = kept
        self.names = NameBook(rng)
        for level in kept.values():  # generated names must not repeat kept ones
            self.names.used.update(level.frame["name"])
        self.rows: dict[str, list[dict]] = {k: [] for k in LEVELS[1:]}
        self.geoms: dict[str, list] = {k: [] for k in LEVELS[1:]}
        self.town_of_micro: list[int] = []
        self.filled: dict[str, list[str]] = {k: [] for k in kept}

    def _emit(self, level: str, row: dict, geom, kept_index: int | None = None) -> None:
        if kept_index is not None:
            row = {**self.kept[level].frame.iloc[kept_index].to_dict(), **row, "_kept": kept_index}
        elif level in self.kept:  # generated where the county imported none: derived
            row = {**row, "derived": True}
        self.rows[level].append(row)
        self.geoms[level].append(geom)

    def town(self, ti: int, town: Town, polygon, n_cells: int, seat: np.ndarray) -> None:
        if self._kept_children("villages", town.code, town.population, n_cells, ti):
            return
        cells, edges, cent, pop = _cells_in(
            town.population, polygon, n_cells, self.density, self.rng
        )
        everything = np.arange(len(cells))
        n_villages = town.villages + town.communities
        v_label = group_cells(cent, edges, everything, n_villages, pop.astype(float), self.rng)
        # Communities are the densest of the town's villages; codes 001-199 are communities
        # (居委会) and 201-399 villages (村委会), as in the national village codes.
        v_pop = np.bincount(v_label, weights=pop, minlength=n_villages)
        v_area = np.bincount(v_label, weights=shapely.area(cells), minlength=n_villages)
        by_density = np.argsort(-(v_pop / v_area), kind="stable")
        communities = set(by_density[: town.communities].tolist())
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
            v_name = self.names.community() if is_comm else self.names.village()
            kind = "community" if is_comm else "village"
            members = np.flatnonzero(v_label == v)
            self._emit(
                "villages",
                {"code": v_code, "name": v_name, "kind": kind, "parent": town.code},
                shapely.union_all(cells[members]),
            )
            self.village(ti, v_code, v_name, is_comm, (cells, edges, cent, pop), members)

    def _kept_children(self, level, parent_code, population, n_cells, ti) -> bool:
        """The kept rows of ``level`` in a parent: each subdivided in its share of the
        parent's residents (by the density) and of its micro-grids. False when the level is
        not kept, or none of the parent's rows was imported: then they are generated (and
        the parent listed in ``filled``)."""
        if level not in self.kept:
            return False
        kept = self.kept[level]
        rows = kept.children_of(parent_code)
        if not len(rows):
            self.filled[level].append(parent_code)
            return False
        mass = np.array([density_mass(kept.geoms[i], self.density, self.rng) for i in rows])
        share = mass / mass.sum()
        for seq, (i, part) in enumerate(zip(rows, share, strict=True)):
            row = kept.frame.iloc[i]
            people, n = population * part, max(1, round(n_cells * part))
            if level == "micro_grids":
                self._emit(level, {}, kept.geoms[i], i)
                self.town_of_micro.append(ti)
                continue
            arrays = _cells_in(people, kept.geoms[i], n, self.density, self.rng)
            members = np.arange(len(arrays[0]))
            self._emit(level, {}, kept.geoms[i], i)
            if level == "villages":
                is_comm = row.get("kind") == "community"
                self.village(ti, row["code"], row["name"], is_comm, arrays, members, people, n)
            elif level == "grids":
                village = self.kept["villages"].frame
                v = village.loc[village["code"] == parent_code].iloc[0]
                prefix = None if v.get("kind") == "community" else v["name"]
                self.grid(ti, row["code"], v["name"], prefix, arrays, members, people, n, g=seq)
            else:
                self.compound(ti, row["code"], row["name"], arrays, members, people, n)
        return True

    def village(self, ti, v_code, v_name, is_comm, arrays, members, people=None, n=None) -> None:
        if self._kept_children("grids", v_code, people, n, ti):
            return
        cells, edges, cent, pop = arrays
        k_g = int(min(len(members), max(2, round(pop[members].sum() / PEOPLE_PER_GRID))))
        g_label = group_cells(cent, edges, members, k_g, pop.astype(float), self.rng)
        for g in range(k_g):
            g_code = f"{v_code}{g + 1:03d}"
            g_members = members[g_label == g]
            self._emit(
                "grids",
                {"code": g_code, "name": f"{v_name}第{g + 1}网格", "parent": v_code},
                shapely.union_all(cells[g_members]),
            )
            self.grid(ti, g_code, v_name, v_name if not is_comm else None, arrays, g_members, g=g)

    def grid(self, ti, g_code, v_name, group_prefix, arrays, members, people=None, n=None, g=0):
        """``group_prefix``: villager groups are named after their village (None: compounds)."""
        if self._kept_children("compounds", g_code, people, n, ti):
            return
        cells, edges, cent, pop = arrays
        k_c = int(max(1, round(len(members) / MICRO_GRIDS_PER_COMPOUND)))
        c_label = group_cells(cent, edges, members, k_c, pop.astype(float), self.rng)
        for c in range(k_c):
            c_code = f"{g_code}{c + 1:02d}"
            if group_prefix is None:
                c_name, kind = self.names.compound(), "compound"
            else:
                c_name, kind = f"{group_prefix}{g + 1}-{c + 1}组", "villager_group"
            c_members = members[c_label == c]
            self._emit(
                "compounds",
                {"code": c_code, "name": c_name, "kind": kind, "parent": g_code},
                shapely.union_all(cells[c_members]),
            )
            self.compound(ti, c_code, c_name, arrays, c_members)

    def compound(self, ti, c_code, c_name, arrays, members, people=None, n=None) -> None:
        if self._kept_children("micro_grids", c_code, people, n, ti):
            return
        cells, _, _, pop = arrays
        for m_seq, m in enumerate(members, start=1):
            people_here = int(pop[m])
            self._emit(
                "micro_grids",
                {
                    "code": f"{c_code}{m_seq:02d}",
                    "name": f"{c_name}第{m_seq}微网格",
                    "parent": c_code,
                    "population": people_here,
                    "households": max(1, round(people_here / self.rng.uniform(2.3, 3.1))),
                },
                cells[m],
            )
            self.town_of_micro.append(ti)


def build_hierarchy(
    rng: np.random.Generator,
    towns_file: Path | None = None,
    progress: Callable[[str, int], None] | None = None,
    kept: dict[str, KeptLevel] | None = None,
) -> Hierarchy:
    """Build the whole hierarchy (in metres) for a random generator; ``kept`` levels (a prefix
    of towns, villages, ...) are taken as they are and the levels below generated in them."""
    kept = kept or {}
    step = progress or (lambda _msg, _n: None)
    seats = seats_metres()
    if "towns" in kept:
        town_polys = _kept_towns(kept["towns"])
    else:
        town_polys = read_towns_file(towns_file) if towns_file else synthetic_towns(seats, rng)
    county = shapely.union_all(list(town_polys.values()))
    density = make_density(seats, county, rng)
    total_pop = sum(t.population for t in TOWNS)
    build = _Builder(rng, density, kept)
    for ti, town in enumerate(TOWNS):
        n_cells = round(MICRO_GRIDS * town.population / total_pop)
        build.town(ti, town, town_polys[town.code], n_cells, seats[ti])
        step(f"town {town.name}", 1)

    if "towns" in kept:
        order = [kept["towns"].frame["code"].tolist().index(t.code) for t in TOWNS]
        town_frame = kept["towns"].frame.iloc[order].drop(columns=["parent"]).reset_index(drop=True)
        town_frame.insert(0, "id", np.arange(1, len(TOWNS) + 1))
        levels = {"towns": Level(town_frame, kept["towns"].geoms[order], kept["towns"].wgs[order])}
    else:
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
    town_of_micro = np.asarray(build.town_of_micro)
    for parent, name in zip(LEVELS, LEVELS[1:], strict=False):
        frame = pd.DataFrame(build.rows[name])
        order = np.argsort(frame["code"].to_numpy(), kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        g = np.array([as_multipolygon(x) for x in build.geoms[name]], dtype=object)[order]
        parent_ids = dict(
            zip(levels[parent].frame["code"], levels[parent].frame["id"], strict=True)
        )
        frame.insert(0, "id", np.arange(1, len(frame) + 1))
        frame[PARENT_COL[name]] = frame.pop("parent").map(parent_ids).astype(np.int64)
        wgs = None
        if name in kept:  # kept rows as loaded; rows generated where none was imported
            index = frame.pop("_kept")
            wgs = np.empty(len(frame), dtype=object)
            mine = index.notna().to_numpy()
            wgs[mine] = kept[name].wgs[index[mine].to_numpy(dtype=np.int64)]
            if not mine.all():
                wgs[~mine] = LOCAL.to_wgs84(g[~mine])
            frame["derived"] = frame["derived"].astype(bool)
        levels[name] = Level(frame, g, wgs)
        if name == "micro_grids":
            town_of_micro = town_of_micro[order]
    filled = {level: codes for level, codes in build.filled.items() if codes}
    return Hierarchy(**levels, density=density, town_of_micro=town_of_micro, filled=filled)


def _kept_towns(level: KeptLevel) -> dict[str, MultiPolygon]:
    codes = level.frame["code"].tolist()
    missing = [f"{t.code} {t.name}" for t in TOWNS if t.code not in codes]
    extra = [c for c in codes if c not in {t.code for t in TOWNS}]
    if missing or extra:
        raise InvalidInput(
            "seed --keep towns fills the county's own towns: "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"not towns of the county: {', '.join(extra)}" if extra else "")
        )
    return {code: as_multipolygon(level.geoms[i]) for i, code in enumerate(codes)}
