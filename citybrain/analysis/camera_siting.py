"""Where to add cameras (雪亮工程): candidate sites, the incidents each would see for each
heading it could take, and the new cameras that see most of what no camera sees today.

Two classic models, solved exactly as integer programs with PuLP (CBC) and greedily beside
them: the maximal covering location problem (MCLP, Church & ReVelle 1974) — the N cameras that
see the most — and the location set covering problem (LSCP, Toregas et al. 1971) — the fewest
cameras that see a target share. A camera is one option among a site's headings (a sector,
``coverage.sector``: the same view the rest of citybrain draws), and a site takes at most one.

Why PuLP and not spopt's ``MCLP``/``LSCP`` (which build the same models in PuLP): spopt covers
by a distance radius over a dense demand x site matrix, has no "one heading per site" constraint,
and its LSCP covers all demand, not a share. Here the matrix is sparse (an option sees a few
incidents of thousands) and demand points that the same options see are merged first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
from scipy import sparse
from scipy.spatial import cKDTree

from citybrain.analysis import coverage
from citybrain.analysis.solve import cbc
from citybrain.crs import LOCAL, to_wgs84

HEADINGS = 8  # one every 45°
FOV = 90.0  # a bullet camera's field of view, degrees
RANGE_M = 100.0


def candidates(frame: pd.DataFrame, crs: str = "wgs84") -> gpd.GeoDataFrame:
    """Candidate sites from a planner's list: a GeoDataFrame of points (any CRS), or a table
    with ``lon`` and ``lat`` in ``crs`` (``wgs84``, ``gcj02`` or ``bd09``). Keeps the index."""
    if isinstance(frame, gpd.GeoDataFrame):
        return frame.to_crs(4326)
    lon, lat = to_wgs84(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), crs)
    points = gpd.points_from_xy(np.atleast_1d(lon), np.atleast_1d(lat))
    return gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=points, crs=4326)


def unseen(incidents: pd.DataFrame, cameras: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """The incidents (``lon``, ``lat``) that no online camera's sector holds, as points."""
    points = gpd.GeoSeries(
        gpd.points_from_xy(incidents["lon"], incidents["lat"]), crs=4326, index=incidents.index
    )
    return points[~coverage.covered(points, coverage.sectors(cameras))]


@dataclass(frozen=True)
class Options:
    """Every useful (site, heading): ``frame`` has one row per option — ``site`` (the
    candidate's index label), ``heading``, ``sees`` (demand weight in its sector) and the
    sector as geometry; ``seen`` is the demand x option matrix (1: the sector holds the point);
    ``weights`` the demand's weights. Options that see nothing are left out."""

    frame: gpd.GeoDataFrame
    seen: sparse.csc_matrix
    weights: np.ndarray

    @property
    def total(self) -> float:
        return float(self.weights.sum())

    def seen_by(self, chosen: list[int]) -> float:
        """Demand weight that at least one of the ``chosen`` options sees."""
        hit = np.asarray(self.seen[:, chosen].sum(axis=1)).ravel() > 0
        return float(self.weights[hit].sum())


def options(
    sites: gpd.GeoDataFrame,
    demand: gpd.GeoSeries,
    headings: int = HEADINGS,
    fov: float = FOV,
    range_m: float = RANGE_M,
    weights: np.ndarray | None = None,
) -> Options:
    """Each site with ``headings`` headings evenly spread from north (one if ``fov`` is 360),
    and the ``demand`` points (WGS84) each sector holds."""
    weights = np.ones(len(demand)) if weights is None else np.asarray(weights, float)
    steps = np.arange(headings) * 360.0 / headings if fov < 360 else np.zeros(1)
    # A site farther than its range from every demand point sees nothing whatever its heading.
    xy = np.column_stack(LOCAL.forward(sites.geometry.x, sites.geometry.y))
    near = cKDTree(np.column_stack(LOCAL.forward(demand.x, demand.y)))
    if len(demand):
        close = np.isfinite(near.query(xy, distance_upper_bound=range_m * 1.01)[0])
    else:
        close = np.zeros(len(sites), dtype=bool)
    sites = sites[close]
    site = np.repeat(sites.index.to_numpy(), len(steps))
    heading = np.tile(steps, len(sites))
    lon = np.repeat(sites.geometry.x.to_numpy(), len(steps))
    lat = np.repeat(sites.geometry.y.to_numpy(), len(steps))
    sectors = coverage.sector_polygons(lon, lat, heading, fov, range_m)
    point, option = coverage.seen_by(demand.values, sectors)
    matrix = sparse.csc_matrix(
        (np.ones(len(point)), (point, option)), shape=(len(demand), len(sectors))
    )
    sees = np.asarray(matrix.T @ weights).ravel()
    keep = np.flatnonzero(sees > 0)
    frame = gpd.GeoDataFrame(
        {
            "site": site[keep],
            "lon": lon[keep],
            "lat": lat[keep],
            "heading": heading[keep],
            "sees": sees[keep],
        },
        geometry=sectors[keep],
        crs=4326,
    )
    return Options(frame, matrix[:, keep].tocsc(), weights)


@dataclass(frozen=True)
class Choice:
    """Chosen options (positions in ``Options.frame``; greedy ones in the order chosen), the
    demand weight they see, and whether that is proven the best possible."""

    method: str
    chosen: list[int]
    seen: float
    optimal: bool


def mclp(opts: Options, n: int, time_limit: float | None = None) -> Choice:
    """The at most ``n`` options, one per site, that see the most demand (exact)."""
    if opts.frame.empty:
        return Choice("MCLP (exact)", [], 0.0, True)
    model = pulp.LpProblem("mclp", pulp.LpMaximize)
    x, covered = _covering_model(model, opts)
    model += pulp.lpSum(x) <= n
    model.setObjective(covered)
    return _solve(model, x, opts, "MCLP (exact)", time_limit)


def lscp(opts: Options, share: float, time_limit: float | None = None) -> Choice:
    """The fewest options, one per site, that see at least ``share`` of the demand (exact)."""
    most = opts.seen_by(list(range(len(opts.frame))))
    if share * opts.total - 1e-6 > most:
        raise ValueError(
            f"LSCP: no choice of the candidates sees {share:.1%} of the demand (all their "
            f"sectors together hold {most / opts.total:.1%}; one heading a site, less)"
        )
    model = pulp.LpProblem("lscp", pulp.LpMinimize)
    x, covered = _covering_model(model, opts)
    model += covered >= share * opts.total - 1e-6
    model.setObjective(pulp.lpSum(x))
    return _solve(model, x, opts, "LSCP (exact)", time_limit)


def greedy_mclp(opts: Options, n: int) -> Choice:
    """``n`` options one by one, each the one (at a site not yet taken) that adds most."""
    return _greedy(opts, lambda count, seen: count >= n, "MCLP (greedy)")


def greedy_lscp(opts: Options, share: float) -> Choice:
    """Options one by one as in ``greedy_mclp`` until they see ``share`` of the demand."""
    target = share * opts.total - 1e-6
    choice = _greedy(opts, lambda count, seen: seen >= target, "LSCP (greedy)")
    if choice.seen < target:
        raise ValueError(f"the greedy choice stops at {choice.seen / opts.total:.1%} seen")
    return choice


def gap(exact: Choice, greedy: Choice) -> float:
    """What the greedy answer gives up against the exact one: for MCLP the share of the
    optimum's demand it misses, for LSCP the share of extra cameras it needs."""
    if exact.method.startswith("LSCP"):
        return (len(greedy.chosen) - len(exact.chosen)) / max(len(exact.chosen), 1)
    return (exact.seen - greedy.seen) / exact.seen if exact.seen else 0.0


def summary(opts: Options, exact: Choice, greedy: Choice) -> pd.DataFrame:
    """Exact and greedy side by side: cameras, demand seen and its share, the gap."""
    rows = [
        {
            "method": c.method,
            "cameras": len(c.chosen),
            "seen": c.seen,
            "share": c.seen / opts.total if opts.total else np.nan,
            "optimal": c.optimal,
        }
        for c in (exact, greedy)
    ]
    return pd.DataFrame(rows).set_index("method").assign(gap=[0.0, gap(exact, greedy)])


def chosen(opts: Options, choice: Choice) -> gpd.GeoDataFrame:
    """The chosen options (site, lon, lat, heading, sees, sector) with ``gain``: what each adds
    to those before it."""
    frame = opts.frame.iloc[choice.chosen].copy()
    totals = [opts.seen_by(choice.chosen[: k + 1]) for k in range(len(choice.chosen))]
    frame["gain"] = np.diff([0.0, *totals])
    return frame


def _covering_model(
    model: pulp.LpProblem, opts: Options
) -> tuple[list[pulp.LpVariable], pulp.LpAffineExpression]:
    """Binary x per option, at most one per site, and the demand weight they see: y per group of
    demand points seen by the same options (0 <= y <= 1, y <= the sum of those options' x, so
    y = 1 only when one is chosen; integral at the optimum, hence continuous)."""
    x = [model.add_variable(f"x{j}", cat=pulp.LpBinary) for j in range(opts.seen.shape[1])]
    for members in opts.frame.groupby("site").indices.values():
        if len(members) > 1:
            model += pulp.lpSum(x[j] for j in members) <= 1
    groups: dict[bytes, list] = {}
    rows = opts.seen.tocsr()
    rows.sort_indices()
    for i in range(rows.shape[0]):
        cols = rows.indices[rows.indptr[i] : rows.indptr[i + 1]]
        if len(cols):
            group = groups.setdefault(cols.tobytes(), [cols, 0.0])
            group[1] += opts.weights[i]
    terms = []
    for k, (cols, weight) in enumerate(groups.values()):
        y = model.add_variable(f"y{k}", lowBound=0, upBound=1)
        model += y <= pulp.lpSum(x[j] for j in cols)
        terms.append((y, weight))
    return x, pulp.LpAffineExpression(terms)


def _solve(
    model: pulp.LpProblem,
    x: list[pulp.LpVariable],
    opts: Options,
    method: str,
    time_limit: float | None,
) -> Choice:
    try:
        optimal = cbc(model, method, time_limit)
    except ValueError:
        raise ValueError(
            f"{method}: no choice of the candidates, one heading a site, sees that"
        ) from None
    picked = [j for j, v in enumerate(x) if (v.value() or 0) > 0.5]
    picked.sort(key=lambda j: -opts.frame["sees"].iat[j])
    return Choice(method, picked, opts.seen_by(picked), optimal)


def _greedy(opts: Options, done: Callable[[int, float], bool], method: str) -> Choice:
    left = opts.weights.astype(float).copy()  # demand weight not seen yet
    site = pd.factorize(opts.frame["site"])[0]
    free = np.ones(len(site), dtype=bool)
    picked: list[int] = []
    seen = 0.0
    while not done(len(picked), seen) and free.any():
        gains = np.where(free, opts.seen.T @ left, -1.0)
        best = int(gains.argmax())  # ties: the first option
        if gains[best] <= 0:
            break
        picked.append(best)
        seen += float(gains[best])
        left[opts.seen.indices[opts.seen.indptr[best] : opts.seen.indptr[best + 1]]] = 0.0
        free[site == site[best]] = False
    return Choice(method, picked, seen, False)
