"""Planar building blocks of the synthetic county: the outline, Voronoi cells clipped to a parent,
the cells' adjacency graph, and contiguous grouping of cells by growth on that graph.

Everything here works in local metres (``crs.LOCAL``), an *affine* map of longitude and latitude:
straight edges stay straight both ways, so a vertex that clipping puts on an edge is still on
that edge in WGS84 and neighbouring polygons keep sharing their boundaries exactly. (A true
projection bends edges by millimetres, enough to open slivers between towns.)
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
import shapely
from scipy.spatial import Delaunay
from shapely.geometry import MultiPolygon, Polygon

COUNTY_AREA_M2 = 506e6


def county_outline(seats: np.ndarray, area_m2: float = COUNTY_AREA_M2) -> Polygon:
    """A fixed, irregular county outline around the town seats with the given area.

    The convex hull of the seats, buffered and given a gentle radial wobble, scaled to the area.
    It does not depend on the random seed: every synthetic Jiashan has the same outline.
    """
    hull = shapely.convex_hull(shapely.multipoints(seats)).buffer(4000, quad_segs=32)
    centre = np.asarray(hull.centroid.coords[0])
    ring = np.asarray(hull.exterior.coords)[:-1]
    rel = ring - centre
    theta = np.arctan2(rel[:, 1], rel[:, 0])
    wobble = (
        1
        + 0.07 * np.sin(3 * theta + 0.4)
        + 0.04 * np.sin(5 * theta + 2.1)
        + 0.025 * np.sin(9 * theta + 1.3)
    )
    outline = Polygon(centre + rel * wobble[:, None])
    scale = np.sqrt(area_m2 / outline.area)
    outline = shapely.affinity.scale(outline, scale, scale, origin=tuple(centre))
    if not outline.contains(shapely.multipoints(seats)):
        raise ValueError("county outline does not contain every town seat")
    return outline


def as_multipolygon(geom) -> MultiPolygon:
    """Keep the polygonal parts of an overlay result, as one MultiPolygon."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    if not parts:
        polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
        parts = [p for g in polys for p in shapely.get_parts(g)]
    return MultiPolygon(parts)


def voronoi_cells(points: np.ndarray, boundary) -> np.ndarray:
    """Voronoi cells of ``points`` clipped to ``boundary``, in the order of ``points``."""
    diagram = shapely.voronoi_polygons(
        shapely.multipoints(points), extend_to=boundary.envelope.buffer(1000), ordered=True
    )
    cells = shapely.get_parts(diagram)
    if len(cells) != len(points):
        raise ValueError("duplicate points: Voronoi diagram has fewer cells than points")
    clipped = shapely.intersection(cells, boundary)
    return np.array([as_multipolygon(c) for c in clipped], dtype=object)


def adjacency(points: np.ndarray, cells: np.ndarray, min_shared_m: float = 1.0) -> np.ndarray:
    """Pairs (i, j), i < j, of cells sharing a boundary of at least ``min_shared_m`` metres.

    Candidates are the Delaunay neighbours of the generating points (the cells that share an
    edge before clipping); clipping to a concave parent can separate some of them.
    """
    if len(points) < 2:
        return np.empty((0, 2), dtype=np.int64)
    if len(points) < 4:
        pairs = np.array([(i, j) for i in range(len(points)) for j in range(i + 1, len(points))])
    else:
        tri = Delaunay(points).simplices
        pairs = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
        pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    shared = shapely.length(shapely.intersection(cells[pairs[:, 0]], cells[pairs[:, 1]]))
    return pairs[shared >= min_shared_m]


def grow(
    n: int,
    edges: np.ndarray,
    weights: np.ndarray,
    sources: Sequence[int],
    speeds: Sequence[float] | None = None,
) -> np.ndarray:
    """Partition graph nodes among ``sources`` by competitive growth.

    Every source floods outward at its speed; a node joins the first region to reach it, and a
    region only grows through its own nodes, so every region is connected. With equal speeds
    this is a graph Voronoi partition (multi-source Dijkstra). Nodes no source reaches get -1.
    """
    speeds = np.ones(len(sources)) if speeds is None else np.asarray(speeds, dtype=float)
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for (a, b), w in zip(edges.tolist(), weights.tolist(), strict=True):
        neighbours[a].append((b, w))
        neighbours[b].append((a, w))
    label = np.full(n, -1, dtype=np.int64)
    heap = [(0.0, k, int(s)) for k, s in enumerate(sources)]
    heapq.heapify(heap)
    while heap:
        t, k, node = heapq.heappop(heap)
        if label[node] != -1:
            continue
        label[node] = k
        for nxt, w in neighbours[node]:
            if label[nxt] == -1:
                heapq.heappush(heap, (t + w / speeds[k], k, nxt))
    return label


def pick_sources(
    centroids: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, iters: int = 8
) -> list[int]:
    """Choose ``k`` well-spread source nodes: weighted k-means, then the node nearest each
    centre."""
    n = len(centroids)
    if k >= n:
        return list(range(n))
    p = weights / weights.sum()
    centres = centroids[rng.choice(n, size=k, replace=False, p=p)]
    for _ in range(iters):
        d = ((centroids[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        nearest = d.argmin(axis=1)
        for j in range(k):
            members = nearest == j
            if members.any():
                w = weights[members]
                centres[j] = (centroids[members] * w[:, None]).sum(axis=0) / w.sum()
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    for c in centres:
        d = ((centroids - c) ** 2).sum(axis=1)
        d[taken] = np.inf
        i = int(d.argmin())
        chosen.append(i)
        taken[i] = True
    return chosen


def group_cells(
    centroids: np.ndarray,
    edges: np.ndarray,
    members: np.ndarray,
    k: int,
    weights: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Split the cells ``members`` (indices into ``centroids``, a connected set) into ``k``
    contiguous groups; returns each member's group number (0..k-1)."""
    local = np.full(len(centroids), -1, dtype=np.int64)
    local[members] = np.arange(len(members))
    sub = local[edges].reshape(-1, 2)
    sub = sub[(sub >= 0).all(axis=1)]
    pts = centroids[members]
    sources = pick_sources(pts, weights[members], k, rng)
    w = np.hypot(*(pts[sub[:, 0]] - pts[sub[:, 1]]).T) if len(sub) else np.empty(0)
    label = grow(len(members), sub, w, sources)
    if (label < 0).any():
        # A piece cut off from the rest (by a concave parent): give it to the nearest group.
        lonely = np.flatnonzero(label < 0)
        seeds = pts[sources]
        label[lonely] = ((pts[lonely, None, :] - seeds[None]) ** 2).sum(axis=2).argmin(axis=1)
    return label


def sample_in_polygon(
    polygon,
    n: int,
    rng: np.random.Generator,
    density=None,
    density_max: float = 1.0,
) -> np.ndarray:
    """``n`` random points in ``polygon``, with probability proportional to ``density(x, y)``."""
    shapely.prepare(polygon)
    minx, miny, maxx, maxy = polygon.bounds
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(1000, 4 * (n - have))
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        u = rng.uniform(0, density_max, m)
        keep = shapely.contains_xy(polygon, x, y)
        if density is not None:
            keep[keep] = u[keep] < density(x[keep], y[keep])
        pts = np.column_stack([x[keep], y[keep]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


def sample_in_each(geoms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform random point inside each geometry (vectorised rejection sampling)."""
    geoms = np.asarray(geoms, dtype=object)
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    out = np.full((len(geoms), 2), np.nan)
    todo = np.arange(len(geoms))
    while len(todo):
        b = bounds[todo]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(geoms[todo], x, y)
        out[todo[ok], 0] = x[ok]
        out[todo[ok], 1] = y[ok]
        todo = todo[~ok]
    return out
