"""Polygon repairs a GIS technician would make, each reported with the area it moved:

- invalid rings (self-intersections, bow-ties, wrong orientation) made valid (GEOS MakeValid);
- parts beyond the parent (a village reaching into the next town) cut off;
- overlaps between neighbours given to one of them, gaps between neighbours narrower than
  the tolerance closed, shared edges made identical (GEOS CoverageCleaner, longest border);
- gaps against the parent's edge narrower than the tolerance, and slivers (parts thinner than
  it), given to the neighbour with the longest shared border.

Wider gaps are real and left alone (a note; ``citybrain validate`` lists them). Work is done in
local metres (``crs.LOCAL``, affine, so edges stay straight); a polygon no repair changed keeps
its coordinates exactly, so re-importing a clean file changes nothing.
"""

from __future__ import annotations

import numpy as np
import shapely

from citybrain.crs import LOCAL
from citybrain.importer.county import County
from citybrain.importer.prepare import Prepared
from citybrain.importer.report import Report
from citybrain.synth.geometry import as_multipolygon, voronoi_cells

TOLERANCE_M = 5.0  # gaps, overlaps and slivers narrower than this are digitising errors
_EPS_M2 = 0.01  # area changes below this are arithmetic, not repairs


def make_valid(prep: Prepared, report: Report) -> None:
    geoms = prep.geoms
    keys = prep.keys()
    for i in np.flatnonzero(~prep.bad):
        g = geoms[i]
        if g is None or g.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        if g.is_valid:
            geoms[i] = as_multipolygon(g) if g.geom_type == "Polygon" else g
            continue
        reason = shapely.is_valid_reason(g)
        fixed = as_multipolygon(shapely.make_valid(g))
        if fixed.is_empty:
            prep.reject(
                report,
                _one(len(geoms), i),
                "geometry",
                f"invalid and empty when made valid: {reason}",
            )
            continue
        before = float(shapely.area(LOCAL.to_metres(shapely.buffer(g, 0))))
        after = float(shapely.area(LOCAL.to_metres(fixed)))
        report.repaired(
            int(prep.frame["row"].iat[i]),
            "geometry",
            f"invalid geometry made valid ({reason})",
            abs(after - before),
            keys[i],
        )
        geoms[i] = fixed


def _one(n: int, i: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[i] = True
    return mask


def coverage(prep: Prepared, county: County, report: Report, tolerance_m: float) -> None:
    """Make each parent's children (or the towns) a clean partition, as far as is safe."""
    layer = prep.layer
    ok = ~prep.bad
    if layer.parent is None:
        groups = {None: np.flatnonzero(ok)}
    else:
        fk = prep.frame[layer.parent.fk].to_numpy()
        groups = {}
        for i in np.flatnonzero(ok):
            groups.setdefault(int(fk[i]), []).append(i)
    parents = county.level(layer.parent.table) if layer.parent else None
    for parent_id, members in groups.items():
        members = np.asarray(members, dtype=np.int64)
        parent = None
        if parent_id is not None:
            pos = int(np.flatnonzero(parents.frame["id"].to_numpy() == parent_id)[0])
            parent = (parents.frame["code"].iat[pos], LOCAL.to_metres(parents.geoms[pos]))
        _clean_group(prep, report, members, parent, tolerance_m)


def _clean_group(prep, report, members, parent, tolerance_m) -> None:
    original = LOCAL.to_metres(prep.geoms[members].astype(object))
    work = original.copy()
    outside = np.zeros(len(work))
    if parent is not None:
        clipped = shapely.intersection(work, parent[1])
        outside = shapely.area(work) - shapely.area(clipped)
        work = np.array([as_multipolygon(g) for g in clipped], dtype=object)
    if len(work) > 1:
        work = np.array(
            [as_multipolygon(g) for g in shapely.coverage_clean(work, gap_width=tolerance_m)],
            dtype=object,
        )
    work = _give_slivers(work, tolerance_m)
    if parent is not None:
        work, wide = _close_edge_gaps(work, parent[1], tolerance_m)
        for area in wide:
            level = prep.layer.parent.table[:-1]
            report.note(
                f"a gap of {area:,.0f} m² in {level} {parent[0]} is wider than "
                f"{tolerance_m:g} m: left open (citybrain validate lists it)"
            )
    for k, i in enumerate(members):
        _record(prep, report, i, original[k], work[k], outside[k])


def _record(prep, report, i, before, after, outside) -> None:
    row, key = int(prep.frame["row"].iat[i]), prep.frame[prep.layer.key].iat[i]
    if after.is_empty or after.area < 1.0:
        prep.reject(
            report,
            _one(len(prep.geoms), i),
            "geometry",
            "no area left: it lies under its neighbours or outside its parent",
        )
        return
    moved = float(shapely.area(shapely.symmetric_difference(before, after)))
    if moved < _EPS_M2 and shapely.equals(before, after):
        return
    gained = float(shapely.area(shapely.difference(after, before)))
    lost = float(shapely.area(shapely.difference(before, after)))
    parts = []
    if outside > _EPS_M2:
        parts.append(f"{outside:,.1f} m² beyond its {prep.layer.parent.table[:-1]} cut off")
    if lost - outside > _EPS_M2:
        parts.append(f"{lost - outside:,.1f} m² of overlap or sliver given to a neighbour")
    if gained > _EPS_M2:
        parts.append(f"{gained:,.1f} m² of gap or sliver taken in")
    if moved >= _EPS_M2:
        report.repaired(
            row, "geometry", "; ".join(parts) or "edges snapped to its neighbours'", moved, key
        )
    prep.geoms[i] = as_multipolygon(LOCAL.to_wgs84(after))


def _thin(geom, tolerance_m: float) -> bool:
    return bool(shapely.is_empty(shapely.buffer(geom, -tolerance_m / 2)))


def _longest_border(piece, candidates: np.ndarray, exclude: int | None = None) -> int | None:
    edge = shapely.buffer(piece.boundary, 0.01)
    shared = shapely.length(shapely.intersection(shapely.boundary(candidates), edge))
    if exclude is not None:
        shared[exclude] = 0.0
    best = int(np.argmax(shared)) if len(shared) else -1
    return best if best >= 0 and shared[best] > 0.01 else None


def _give_slivers(work: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Thin stray parts of a polygon go to the neighbour they share most border with."""
    work = work.copy()
    for i, geom in enumerate(work):
        parts = list(shapely.get_parts(geom))
        if len(parts) < 2:
            continue
        main = max(range(len(parts)), key=lambda k: parts[k].area)
        for k, part in enumerate(parts):
            if k == main or not _thin(part, tolerance_m):
                continue
            j = _longest_border(part, work, exclude=i)
            if j is not None:
                work[j] = as_multipolygon(shapely.union(work[j], part))
                work[i] = as_multipolygon(shapely.difference(work[i], part))
    return work


def _close_edge_gaps(work: np.ndarray, parent, tolerance_m: float):
    """Gaps between the children and the parent's edge: thin ones closed, wide ones listed."""
    gaps = shapely.difference(parent, shapely.union_all(work))
    wide = []
    work = work.copy()
    for piece in shapely.get_parts(gaps):
        if piece.area < _EPS_M2:
            continue
        if not _thin(piece, tolerance_m):
            wide.append(float(piece.area))
            continue
        j = _longest_border(piece, work)
        if j is None:
            wide.append(float(piece.area))
            continue
        work[j] = as_multipolygon(shapely.union(work[j], piece))
    return work, wide


def villages_from_seats(prep: Prepared, county: County, report: Report) -> None:
    """Village polygons from their committees' locations: each town divided among the seats
    in it (Voronoi cells clipped to the town), so that they tile it exactly. Marked derived;
    a village whose surveyed polygon was imported before keeps it."""
    towns = county.level("towns")
    villages = county.level("villages")
    fk = prep.frame["town_id"].to_numpy()
    derived = np.ones(len(prep.frame), dtype=bool)
    for pos, town_id in enumerate(towns.frame["id"].to_numpy()):
        members = np.flatnonzero((fk == town_id) & ~prep.bad)
        if not len(members):
            continue
        town_m = LOCAL.to_metres(towns.geoms[pos])
        xy = np.column_stack(
            LOCAL.forward(*shapely.get_coordinates(prep.geoms[members].astype(object)).T)
        )
        members, xy = _distinct_seats(prep, report, members, xy)
        if len(members) == 1:
            cells = np.array([as_multipolygon(town_m)], dtype=object)
        else:
            cells = voronoi_cells(xy, town_m)
        for i, cell in zip(members, cells, strict=True):
            prep.geoms[i] = as_multipolygon(LOCAL.to_wgs84(cell))
    surveyed = villages.frame.loc[villages.frame["imported"] & ~villages.frame["derived"], "code"]
    keep = prep.frame["code"].isin(set(surveyed)).to_numpy() & ~prep.bad
    for i in np.flatnonzero(keep):
        prep.geoms[i] = villages.geoms[villages.by_code[prep.frame["code"].iat[i]]]
        derived[i] = False
    if keep.any():
        report.note(f"{int(keep.sum())} villages already have a surveyed polygon: kept")
    prep.frame["derived"] = derived
    report.note(
        f"{int((derived & ~prep.bad).sum())} village polygons derived from their committees' "
        "locations (each town divided among its seats)"
    )
    empty = [
        towns.frame["code"].iat[p]
        for p, t in enumerate(towns.frame["id"])
        if not ((fk == t) & ~prep.bad).any()
    ]
    if empty:
        report.note(f"towns without any village in this file: {', '.join(empty)}")


def _distinct_seats(prep, report, members, xy):
    """Two seats within a metre of each other cannot divide a town: the later is refused."""
    keep = np.ones(len(members), dtype=bool)
    for a in range(len(members)):
        if not keep[a]:
            continue
        close = np.hypot(*(xy[a + 1 :] - xy[a]).T) < 1.0
        for b in np.flatnonzero(close) + a + 1:
            if keep[b]:
                keep[b] = False
                prep.reject(
                    report,
                    _one(len(prep.geoms), members[b]),
                    "geometry",
                    f"at the same place as row {int(prep.frame['row'].iat[members[a]])}",
                )
    return members[keep], xy[keep]
