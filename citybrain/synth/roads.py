"""A plausible road network for the synthetic county: arterials between the town seats, streets
around the compounds in towns, rural roads around the villager groups in the farmland.

The result is a noded graph (vertices and two-way edges with travel times) in the layout that
pgRouting reads: ``roads(id, source, target, cost, reverse_cost, geom)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import Delaunay
from shapely.geometry import LineString

from citybrain.synth.hierarchy import Hierarchy

# Speeds by road class, km/h (cars; grid teams drive or ride e-bikes of similar speed in towns).
SPEED_KMH = {"arterial": 60.0, "street": 30.0, "rural": 40.0}
URBAN_DENSITY = 2500.0  # residents per km² above which a road is a town street


@dataclass
class RoadNetwork:
    vertices: np.ndarray  # (n, 2) local metres; vertex id = row + 1
    edges: pd.DataFrame  # source, target, class, length_m, cost, reverse_cost, geom (metres)


def _arterials(seats: np.ndarray, county) -> list[LineString]:
    """Roads along the Delaunay edges between town seats, gently bent, inside the county."""
    tri = Delaunay(seats).simplices
    pairs = np.unique(
        np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1), axis=0
    )
    lines = []
    for a, b in pairs:
        p, q = seats[a], seats[b]
        normal = np.array([q[1] - p[1], p[0] - q[0]]) / max(np.hypot(*(q - p)), 1.0)
        mid = (p + q) / 2 + normal * 0.06 * np.hypot(*(q - p))
        line = shapely.intersection(LineString([p, mid, q]), county)
        lines.extend(g for g in shapely.get_parts(line) if g.geom_type == "LineString")
    return lines


def make_roads(h: Hierarchy, seats: np.ndarray) -> RoadNetwork:
    county = shapely.union_all(h.towns.geoms)
    arterials = shapely.union_all(_arterials(seats, county))
    linework = shapely.union_all(np.concatenate([shapely.boundary(h.compounds.geoms), [arterials]]))
    segments = shapely.get_parts(linework)
    segments = segments[shapely.get_num_coordinates(segments) >= 2]
    # Endpoints that the union noded together are bit-identical: they are the vertices.
    ends = np.concatenate(
        [
            shapely.get_coordinates(shapely.get_point(segments, 0)),
            shapely.get_coordinates(shapely.get_point(segments, -1)),
        ]
    )
    vertices, index = np.unique(ends, axis=0, return_inverse=True)
    n = len(segments)
    source, target = index[:n] + 1, index[n:] + 1
    keep = source != target
    segments, source, target = segments[keep], source[keep], target[keep]

    mid = shapely.get_coordinates(shapely.line_interpolate_point(segments, 0.5, normalized=True))
    on_arterial = shapely.dwithin(arterials, shapely.points(mid), 0.01)
    urban = h.density(mid[:, 0], mid[:, 1]) > URBAN_DENSITY
    klass = np.where(on_arterial, "arterial", np.where(urban, "street", "rural"))
    length = shapely.length(segments)
    speed = np.vectorize(SPEED_KMH.get)(klass) / 3.6
    cost = length / speed
    edges = pd.DataFrame(
        {
            "source": source,
            "target": target,
            "class": klass,
            "length_m": length,
            "cost": cost,
            "reverse_cost": cost,
            "geom": segments,
        }
    )
    return RoadNetwork(vertices, edges)
