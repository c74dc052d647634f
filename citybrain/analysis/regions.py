"""Grid re-division (网格划分优化): proposed grids made of contiguous compounds whose households
stay under a bound per grid worker (by default 300, a common Zhejiang rule) and, if asked, whose
incidents stay under a bound per team member, compared with today's grids and written as a layer
QGIS opens.

Method. Within each village (a grid never crosses a village line), compounds are grouped by
max-p regionalisation (Duque, Anselin & Rey 2012; spopt's max-p heuristic, Wei, Rey & Knaap
2020): as many contiguous regions as possible, each holding at least ``floor`` households,
compact (its compounds' centroids close together). spopt's randomised construction phase is
run (it finds p), and the most compact of its partitions with the most regions kept; its
simulated-annealing phase is not (it only makes regions more compact, never more numerous).
That is why spopt's private ``maxp._construction_phase`` and
``_calculate_within_region_distance`` are called rather than its public ``MaxPHeuristic``
(spopt 0.7): the public class cannot skip the annealing (``max_iterations_sa=0`` returns no
labels at all), it anneals every partition that reaches the most regions, and its annealing
loop need not end: with the least annealing (one round) on the benchmark county's villages,
6 of 149 (7 to 19 compounds) were still annealing after a minute of CPU each, and the other
143 took 88 times the CPU of the construction alone (276 s against 3.1 s; docs/benchmarks.md,
"Grid re-division"); it also prints a pandas deprecation warning (``drop(inplace=True)``),
which the notebooks must not. ``spopt`` is pinned to the versions whose private functions
were checked (pyproject.toml), and tests/test_regions.py fails loudly if they disappear or
change.

Max-p only knows a minimum, so the bounds are enforced after it: a region over ``ceiling``
households or over ``incident_ceiling`` incidents is cut along a minimum spanning tree of its
compounds' adjacency into connected parts each within both (Kundu & Misra 1977: bottom-up, the
heaviest child's subtree cut off while over; the fewest parts for one bound on a tree, a
heuristic for two), and a part left under the floor joins the smallest neighbouring region
that stays within both. The incidents bound is a ceiling, not a second floor or a weighted
sum: it says what a planner can state and check ("no team member takes more than N incidents
in 90 days"), needs no exchange rate between households and incidents, and leaves the
households rule exactly as the county writes it; grids where incidents crowd become smaller
(fewer households, the same team), which is the balancing a planner asks for. ``greedy``
(region growing from the edge to the floor, the same cut and merge) is the baseline beside it.
No exact max-p solution is computed, so max-p carries no optimality gap: the max-p-regions
problem is NP-hard (Duque et al. 2012), spopt ships only the heuristic, and Duque et al.'s
mixed-integer program is not built here; the tests check the heuristic on lattices whose
optimum is known by hand.

Invariants of ``redivide``: every compound is in exactly one region; every region lies in one
group (village) and is connected in the contiguity graph (rook by default: compounds sharing an
edge), where the graph has been completed by ``bridges`` (a compound or set of compounds that
touches nothing else in its village is joined to the nearest compound of the rest, and the
bridge is reported); every region holds at most ``ceiling`` households and at most
``incident_ceiling`` incidents, except a single compound that alone holds more (reported in
``over``). Same input and seed, same answer: the heuristic's random choices come from NumPy's
global generator, seeded for each village and restored afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
from sqlalchemy import Engine, text

from citybrain import sql as sql_files
from citybrain.analysis import load
from citybrain.crs import LOCAL
from citybrain.domain import MemberRole
from citybrain.errors import InvalidInput

PER_WORKER = 300  # households a grid worker (网格员) serves at most
# Incidents a team member may take: this many times the median member's load in today's grids
# (no rule fixes it; twice the typical load is where a grid stands out as overloaded).
INCIDENT_FACTOR = 2.0
METHODS = ("maxp", "greedy")
CONTIGUITY = ("rook", "queen")
LAYER = "proposed_grids"


def compounds(since: datetime | str = "1970-01-01", con: Engine | None = None) -> gpd.GeoDataFrame:
    """Every compound (index: id) with ``code``, ``name``, its grid, village and town, its
    ``households`` (its micro-grids') and the ``incidents`` reported inside it since ``since``."""
    frame = gpd.read_postgis(
        text(sql_files.load("analysis/compounds")),
        con or load.engine(),
        geom_col="geom",
        params={"since": str(since)},
    )
    return frame.set_index("id")


def team_sizes(teams: pd.DataFrame) -> pd.DataFrame:
    """Per grid (index: ``grid_id``): ``members`` of its team and how many are grid
    ``workers`` (role ``grid_worker``); ``teams`` has grid_id and members (list of dicts)."""
    members = teams["members"]
    return (
        pd.DataFrame(
            {
                "members": members.map(len).to_numpy(),
                "workers": members.map(
                    lambda ms: sum(m.get("role") == MemberRole.grid_worker for m in ms)
                ).to_numpy(),
            },
            index=pd.Index(teams["grid_id"].to_numpy(), name="grid_id"),
        )
        .groupby(level=0)
        .sum()
    )


def incident_bound(today: pd.DataFrame, factor: float = INCIDENT_FACTOR) -> float:
    """Incidents a team member may take in the window: ``factor`` times the median of
    ``today``'s incidents per member (a table from ``grids``; grids with no member left out).
    Multiply by a grid's members for ``redivide``'s ``incident_ceiling``."""
    if not factor > 0:
        raise InvalidInput(f"the incidents factor must be positive (got {factor})")
    per_member = today["incidents_per_member"].dropna()
    if per_member.empty:
        raise InvalidInput("no grid with team members: no incidents per member to bound")
    return float(factor * per_member.median())


@dataclass(frozen=True)
class Division:
    """``labels``: the region (0..p-1) of each compound, indexed like the input; ``bridges``:
    compound pairs joined across a gap to make a village's graph connected; ``split``: regions
    of the heuristic cut to honour the ceilings; ``over``: compounds alone over a ceiling;
    ``below``: regions left under the floor (a village too small, or no neighbour could take
    them within the ceiling)."""

    labels: pd.Series
    bridges: list[tuple]
    split: int
    over: list
    below: list[int]

    @property
    def regions(self) -> int:
        return int(self.labels.nunique())


def redivide(
    frame: gpd.GeoDataFrame,
    ceiling: float,
    floor: float | None = None,
    by: str | None = "village_id",
    method: str = "maxp",
    contiguity: str = "rook",
    seed: int = 0,
    iterations: int = 99,
    incident_ceiling: float | None = None,
) -> Division:
    """Regions of contiguous compounds with ``households`` between ``floor`` (default half
    the ceiling) and ``ceiling``, within each ``by`` group (None: one group), and at most
    ``incident_ceiling`` ``incidents`` each (None: incidents not bounded; for a team of m
    members, m times ``incident_bound``).

    ``method``: ``maxp`` (spopt's max-p construction: ``iterations`` randomised constructions,
    the most compact of those reaching the most regions) or ``greedy``. ``contiguity``:
    ``rook`` (a shared edge) or ``queen`` (a shared point)."""
    floor = ceiling / 2 if floor is None else floor
    _check(frame, ceiling, floor, by, method, contiguity, incident_ceiling)
    metres = LOCAL.to_metres(frame.geometry.to_crs(4326).values)
    xy = shapely.get_coordinates(shapely.centroid(metres))
    h = frame["households"].to_numpy(float)
    # Loads and their ceilings, households first: a region is cut while over any of them.
    loads = h[:, None]
    caps = np.array([ceiling], dtype=float)
    if incident_ceiling is not None:
        loads = np.column_stack([h, frame["incidents"].to_numpy(float)])
        caps = np.array([ceiling, incident_ceiling], dtype=float)
    adjacency = _adjacency(metres, contiguity)
    groups = (
        np.zeros(len(frame), dtype=int) if by is None else pd.factorize(frame[by], sort=True)[0]
    )
    labels = np.full(len(frame), -1)
    bridges: list[tuple] = []
    split = 0
    over: list = []
    below: list[int] = []
    for g in range(groups.max() + 1):
        pos = np.flatnonzero(groups == g)
        sub = adjacency[pos][:, pos].tocsr()
        sub, joined = _bridged(sub, metres[pos])
        bridges += [(frame.index[pos[a]], frame.index[pos[b]]) for a, b in joined]
        local = _solve(sub, xy[pos], h[pos], floor, method, seed, iterations)
        local, cut = _cut(local, sub, xy[pos], loads[pos], caps)
        local = _merge(local, sub, loads[pos], floor, caps)
        split += cut
        offset = labels.max() + 1
        labels[pos] = offset + local
        sums = np.bincount(local, weights=h[pos])
        over += [frame.index[p] for p in pos if (loads[p] > caps).any()]
        below += [int(offset + r) for r in np.flatnonzero(sums < floor)]
    return Division(
        pd.Series(labels, index=frame.index, name="region"), bridges, split, over, below
    )


def _check(frame, ceiling, floor, by, method, contiguity, incident_ceiling) -> None:
    if method not in METHODS:
        raise InvalidInput(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    if contiguity not in CONTIGUITY:
        raise InvalidInput(f"unknown contiguity {contiguity!r}: one of {', '.join(CONTIGUITY)}")
    if not ceiling > 0 or not 0 <= floor <= ceiling:
        raise InvalidInput(f"need 0 <= floor <= ceiling and ceiling > 0 (got {floor}, {ceiling})")
    if frame.empty:
        raise InvalidInput("no compounds to divide")
    h = frame["households"]
    if h.isna().any() or (h < 0).any():
        raise InvalidInput("households must be known and non-negative for every compound")
    if incident_ceiling is not None:
        if not incident_ceiling > 0:
            raise InvalidInput(f"the incidents ceiling must be positive (got {incident_ceiling})")
        if "incidents" not in frame or frame["incidents"].isna().any():
            raise InvalidInput("an incidents ceiling needs the incidents of every compound")
        if (frame["incidents"] < 0).any():
            raise InvalidInput("incidents must be non-negative for every compound")
    if by is not None and frame[by].isna().any():
        raise InvalidInput(f"every compound needs its {by}")


def _adjacency(metres: np.ndarray, contiguity: str) -> sparse.csr_matrix:
    """Binary, symmetric adjacency of the polygons (libpysal's contiguity on exact shared
    vertices, as a tiling's polygons share them)."""
    import libpysal

    kind = libpysal.weights.Rook if contiguity == "rook" else libpysal.weights.Queen
    w = kind.from_dataframe(
        gpd.GeoDataFrame(geometry=metres), use_index=False, silence_warnings=True
    )
    adjacency = w.sparse.tocsr()
    adjacency.data[:] = 1.0
    return adjacency


def _bridged(sub: sparse.csr_matrix, metres: np.ndarray) -> tuple[sparse.csr_matrix, list]:
    """The graph made connected: while in pieces, the smallest piece is joined to the nearest
    compound outside it (polygon distance, metres). Returns the graph and the joins."""
    joins: list[tuple[int, int]] = []
    n_parts, part = connected_components(sub, directed=False)
    while n_parts > 1:
        sizes = np.bincount(part)
        small = int(np.argmin(sizes))  # ties: the first piece
        inside, outside = np.flatnonzero(part == small), np.flatnonzero(part != small)
        tree = shapely.STRtree(metres[outside])
        (i, j), dist = tree.query_nearest(metres[inside], return_distance=True)
        k = int(np.argmin(dist))
        a, b = int(inside[i[k]]), int(outside[j[k]])
        joins.append((a, b))
        extra = sparse.csr_matrix(([1.0, 1.0], ([a, b], [b, a])), shape=sub.shape)
        sub = (sub + extra).tocsr()
        n_parts, part = connected_components(sub, directed=False)
    return sub, joins


def _solve(sub, xy, h, floor, method, seed, iterations) -> np.ndarray:
    """Region labels (0..p-1) of one connected group, each region at least ``floor`` if the
    group's total allows."""
    n = len(h)
    if n == 1 or h.sum() < 2 * floor:  # room for one region only
        return np.zeros(n, dtype=int)
    if method == "greedy":
        return _greedy(sub, xy, h, floor)
    import libpysal

    # spopt's private construction phase (pinned in pyproject.toml, checked by
    # test_spopt_private_maxp_functions_are_still_there): the public MaxPHeuristic cannot run
    # without its annealing, which did not end on some villages (the module docstring).
    import spopt.region.maxp as maxp

    neighbours = {i: sub.indices[sub.indptr[i] : sub.indptr[i + 1]].tolist() for i in range(n)}
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    attr = xy  # compactness: the regions' compounds close together (L1 metres, as spopt)
    distance = np.abs(attr[:, None, :] - attr[None, :, :]).sum(axis=2)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        _, partitions = maxp._construction_phase(
            np.arange(n), attr, h, distance, w, floor, 2, iterations
        )
    finally:
        np.random.set_state(state)
    # Of the constructions that reach the most regions, the most compact (spopt's objective).
    best = min(partitions, key=lambda p: maxp._calculate_within_region_distance(p[1], distance))
    return pd.factorize(np.asarray(best[0]))[0]


def _greedy(sub, xy, h, floor) -> np.ndarray:
    """Region growing: from the unassigned compound with the fewest free neighbours (the edge
    first), add the free neighbour nearest the seed until the floor is reached; compounds of a
    region that cannot reach it join the smallest adjacent region afterwards."""
    n = len(h)
    labels = np.full(n, -1)
    tried = np.zeros(n, dtype=bool)
    regions = 0
    neighbours = [sub.indices[sub.indptr[i] : sub.indptr[i + 1]] for i in range(n)]
    while not tried.all():
        free = np.flatnonzero(~tried)
        seed = int(free[np.argmin([np.sum(labels[neighbours[i]] == -1) for i in free])])
        members, total = [seed], h[seed]
        tried[seed] = True
        while total < floor:
            frontier = {int(j) for m in members for j in neighbours[m] if not tried[j]}
            if not frontier:
                break
            best = min(frontier, key=lambda j: (np.hypot(*(xy[j] - xy[seed])), j))
            members.append(best)
            tried[best] = True
            total += h[best]
        if total >= floor:
            labels[members] = regions
            regions += 1
    if regions == 0:
        return np.zeros(n, dtype=int)
    while (labels == -1).any():
        sums = np.bincount(labels[labels >= 0], weights=h[labels >= 0], minlength=regions)
        for i in np.flatnonzero(labels == -1):
            near = {int(labels[j]) for j in neighbours[i] if labels[j] >= 0}
            if near:
                labels[i] = min(near, key=lambda r: (sums[r], r))
    return labels


def _cut(labels, sub, xy, loads, caps) -> tuple[np.ndarray, int]:
    """Each region over a ceiling (``loads``: one column a load, ``caps`` their ceilings) cut
    into parts within them that are connected in a minimum spanning tree of the region (edges
    weighted by centroid distance): bottom-up, a compound keeps its children's remainders and,
    while over a ceiling, cuts off the heaviest child's subtree (heaviest: the largest share of
    a ceiling). With one ceiling that is Kundu & Misra (1977), the fewest parts; with two it is
    their rule applied to the tighter of the two shares, valid but not proven fewest."""
    labels = labels.copy()
    sums = np.stack([np.bincount(labels, weights=col) for col in loads.T], axis=1)
    cut = 0
    for region in np.flatnonzero((sums > caps).any(axis=1)):
        nodes = np.flatnonzero(labels == region)
        if len(nodes) == 1:
            continue
        cut += 1
        graph = sub[nodes][:, nodes].tocoo()
        dist = np.hypot(*(xy[nodes[graph.row]] - xy[nodes[graph.col]]).T) + 1e-6
        tree = minimum_spanning_tree(sparse.csr_matrix((dist, (graph.row, graph.col)), graph.shape))
        order, parent = breadth_first_order(tree + tree.T, 0, directed=False)
        rest = loads[nodes].astype(float)
        children: dict[int, list[int]] = {}
        for v in order[1:]:
            children.setdefault(int(parent[v]), []).append(int(v))
        roots = {0}
        for v in order[::-1]:
            kept = sorted(children.get(int(v), []), key=lambda c: (-(rest[c] / caps).max(), c))
            rest[v] += sum(rest[c] for c in kept)
            while (rest[v] > caps).any() and kept:
                c = kept.pop(0)
                roots.add(c)
                rest[v] -= rest[c]
        part = np.zeros(len(nodes), dtype=int)
        for v in order:
            part[v] = v if v in roots else part[parent[v]]
        pieces = pd.factorize(part)[0]
        labels[nodes] = np.where(pieces == 0, region, labels.max() + pieces)
    return pd.factorize(labels)[0], cut


def _merge(labels, sub, loads, floor, caps) -> np.ndarray:
    """Regions under ``floor`` households (the first column of ``loads``) joined, smallest
    first, to the smallest adjacent region they fit with under every ceiling ``caps``."""
    labels = labels.copy()
    while True:
        sums = np.stack([np.bincount(labels, weights=col) for col in loads.T], axis=1)
        h = sums[:, 0]
        moved = False
        for r in np.argsort(h, kind="stable"):
            if h[r] >= floor or not (labels == r).any():
                continue
            rows = sub[labels == r]
            near = set(labels[rows.indices].tolist()) - {int(r)}
            fits = [q for q in near if (sums[q] + sums[r] <= caps).all()]
            if fits:
                labels[labels == r] = min(fits, key=lambda q: (h[q], q))
                moved = True
                break
        if not moved:
            return pd.factorize(labels)[0]


def grids(
    frame: pd.DataFrame, labels: pd.Series, workers: pd.Series | int, members: pd.Series | int
) -> pd.DataFrame:
    """Per grid (``labels``: grid of each compound): households, incidents, compounds, the
    team's grid workers and members (per grid, or the same for all), households per grid
    worker and incidents per member."""
    table = frame[["households", "incidents"]].groupby(labels.rename("grid")).sum()
    table["compounds"] = labels.value_counts().reindex(table.index)
    for name, value in (("workers", workers), ("members", members)):
        table[name] = (
            value.reindex(table.index).fillna(0).astype(int)
            if isinstance(value, pd.Series)
            else int(value)
        )
    table["households_per_worker"] = table["households"] / table["workers"].where(
        table["workers"] > 0
    )
    table["incidents_per_member"] = table["incidents"] / table["members"].where(
        table["members"] > 0
    )
    return table


def spread(
    table: pd.DataFrame, per_worker: float = PER_WORKER, per_member: float | None = None
) -> pd.Series:
    """How even the workload is: grids, grid workers, min/median/max and coefficient of
    variation (population standard deviation over mean) of households per grid worker and
    of incidents per member, the grids over ``per_worker`` households a worker (a grid
    with no worker counts as over) and, with ``per_member`` given, the grids over that many
    incidents a member (a grid with no member counts as over)."""
    out = {"grids": len(table), "workers": int(table["workers"].sum())}
    for column, short in (
        ("households_per_worker", "hh/worker"),
        ("incidents_per_member", "inc/member"),
    ):
        values = table[column].dropna().to_numpy(float)
        out[f"{short} min"] = values.min()
        out[f"{short} median"] = np.median(values)
        out[f"{short} max"] = values.max()
        out[f"{short} cv"] = values.std() / values.mean() if values.mean() else np.nan
    out["over bound"] = int(
        ((table["households_per_worker"] > per_worker) | (table["workers"] == 0)).sum()
    )
    if per_member is not None:
        out["over incidents bound"] = int(
            ((table["incidents_per_member"] > per_member) | (table["members"] == 0)).sum()
        )
    return pd.Series(out)


def compare(
    today: pd.DataFrame,
    proposed: pd.DataFrame,
    per_worker: float = PER_WORKER,
    per_member: float | None = None,
) -> pd.DataFrame:
    """``spread`` of today's grids and of the proposal side by side."""
    return pd.DataFrame(
        {
            "today": spread(today, per_worker, per_member),
            "proposed": spread(proposed, per_worker, per_member),
        }
    )


def dissolve(frame: gpd.GeoDataFrame, labels: pd.Series, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The proposed grids as polygons (WGS84): each the union of its compounds, with the
    columns of ``table`` (from ``grids``), its village and its compounds' codes."""
    frame = frame.to_crs(4326)
    geoms = frame.geometry.groupby(labels.to_numpy()).agg(shapely.union_all)
    out = table.copy()
    if "village_id" in frame:
        out["village_id"] = frame["village_id"].groupby(labels.to_numpy()).first()
    out["codes"] = frame["code"].groupby(labels.to_numpy()).agg(",".join)
    return gpd.GeoDataFrame(out, geometry=geoms.reindex(out.index).to_numpy(), crs=4326)


def export(regions: gpd.GeoDataFrame, path: Path | str, layer: str = LAYER) -> Path:
    """Write the proposed grids to a GeoPackage (WGS84) as ``layer``, replacing the file."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise InvalidInput(f"{path.name}: the proposed grids are written as a GeoPackage (.gpkg)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    regions.to_crs(4326).reset_index().to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    return path
