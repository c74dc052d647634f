"""Travel times along the roads, the one measure of distance the accessibility and
location-allocation analyses share (``catchment``, ``location``, ``access``).

Minutes go along the road network through citybrain's router (``services.routing.Router``, the
graph dispatch uses): by car at each road's own speed, or on foot at one stated speed on every
road in both directions; straight legs join a point to its nearest road vertex at the access
speed. Residents travel *to* a site, so the router's reversed graph gives, from one Dijkstra per
site, every resident's time to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from citybrain.services.routing import ACCESS_KMH, Router

WALK_KMH = 4.5  # an older resident's walking pace


def road_router(vertices: pd.DataFrame, roads: pd.DataFrame, kmh: float | None = None) -> Router:
    """citybrain's router over a road network (``vertices``: id, lon, lat; ``roads``: source,
    target, length_m, cost, reverse_cost as ``load.road_network`` reads them). ``kmh`` None:
    driving, each road at its own travel seconds and one-way where it is; a speed: every road
    at that speed both ways (walking ignores one-way signs)."""
    if kmh is None:
        cost, reverse = roads["cost"].to_numpy(float), roads["reverse_cost"].to_numpy(float)
    else:
        if kmh <= 0:
            raise ValueError(f"a speed must be positive, not {kmh} km/h")
        cost = roads["length_m"].to_numpy(float) / (kmh / 3.6)
        reverse = cost
    return Router(
        "walk" if kmh else "drive",
        vertices["id"].to_numpy(np.int64),
        vertices["lon"].to_numpy(float),
        vertices["lat"].to_numpy(float),
        roads["source"].to_numpy(np.int64),
        roads["target"].to_numpy(np.int64),
        cost,
        reverse,
    )


def travel_minutes(
    router: Router, origins: pd.DataFrame, sites: pd.DataFrame, access_kmh: float = ACCESS_KMH
) -> np.ndarray:
    """Minutes from each origin (rows) to each site (columns), both with ``lon``/``lat``: the
    straight leg to the origin's nearest vertex, the network time to the site's nearest vertex
    and the straight leg on to the site, legs at ``access_kmh`` (the router's for driving; pass
    the walking speed on foot). inf where the network does not connect them."""
    if access_kmh <= 0:
        raise ValueError(f"the access speed must be positive, not {access_kmh} km/h")
    out = np.full((len(origins), len(sites)), np.inf)
    if not len(origins) or not len(sites):
        return out
    o_vertex, o_leg = router.snap(origins["lon"].to_numpy(float), origins["lat"].to_numpy(float))
    s_vertex, s_leg = router.snap(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    unique, back = np.unique(s_vertex, return_inverse=True)
    # Dijkstra on the reversed graph from a site's vertex: every vertex's time *to* that site.
    to_site = dijkstra(router.graph_to, indices=unique)
    network = to_site[back][:, o_vertex].T
    legs = (o_leg[:, None] + s_leg[None, :]) / (access_kmh / 3.6)
    return (network + legs) / 60.0


def nearest_minutes(minutes: np.ndarray) -> np.ndarray:
    """Each row's time to its nearest site (inf with no site)."""
    return minutes.min(axis=1) if minutes.shape[1] else np.full(minutes.shape[0], np.inf)
