"""Radius questions ("within 1 km"): metres to the nearest site in a straight line or along
the roads, the share of residents reached per area, and sites chosen greedily by the residents
they bring within a radius."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from citybrain.crs import LOCAL


def _metres(lon, lat) -> np.ndarray:
    return np.column_stack(LOCAL.forward(np.asarray(lon, float), np.asarray(lat, float)))


def straight_distance(origins: pd.DataFrame, sites: pd.DataFrame) -> np.ndarray:
    """Metres from each origin (``lon``, ``lat``) to its nearest site."""
    if sites.empty:
        return np.full(len(origins), np.inf)
    dist, _ = cKDTree(_metres(sites["lon"], sites["lat"])).query(
        _metres(origins["lon"], origins["lat"])
    )
    return dist


def road_distance(
    origins: pd.DataFrame, sites: pd.DataFrame, vertices: pd.DataFrame, roads: pd.DataFrame
) -> np.ndarray:
    """Metres from each origin to its nearest site along the road network (``vertices``: id,
    lon, lat; ``roads``: source, target, length_m), plus straight legs to and from the nearest
    vertex; inf where the network does not connect them."""
    if sites.empty:
        return np.full(len(origins), np.inf)
    index = pd.Series(np.arange(len(vertices)), index=vertices["id"].to_numpy())
    s = index.loc[roads["source"]].to_numpy()
    t = index.loc[roads["target"]].to_numpy()
    w = roads["length_m"].to_numpy(float)
    tree = cKDTree(_metres(vertices["lon"], vertices["lat"]))
    site_leg, site_vertex = tree.query(_metres(sites["lon"], sites["lat"]))
    origin_leg, origin_vertex = tree.query(_metres(origins["lon"], origins["lat"]))
    # One Dijkstra from a virtual node joined to every site's vertex by the site's straight
    # leg: the distance to the nearest site, over all sites at once.
    n = len(vertices)
    rows = np.r_[s, t, np.full(len(site_vertex), n)]
    cols = np.r_[t, s, site_vertex]
    graph = csr_matrix((np.r_[w, w, site_leg + 1e-9], (rows, cols)), shape=(n + 1, n + 1))
    dist = dijkstra(graph, indices=n)
    return dist[origin_vertex] + origin_leg


def share_by_area(people: pd.DataFrame, reached: np.ndarray, area: str) -> pd.DataFrame:
    """Residents, residents reached and the share reached, per ``area`` (a column of people)."""
    frame = people.assign(reached=np.where(reached, people["population"], 0))
    out = frame.groupby(area).agg(residents=("population", "sum"), reached=("reached", "sum"))
    out["share"] = out["reached"] / out["residents"].where(out["residents"] > 0)
    return out.sort_values("share")


def greedy_sites(
    people: pd.DataFrame,
    candidates: pd.DataFrame,
    radius_m: float,
    k: int,
    already: np.ndarray | None = None,
) -> pd.DataFrame:
    """Choose ``k`` candidate sites one by one, each time the one that brings the most
    residents not yet within ``radius_m`` of a site (``already``: those reached today).
    Returns the chosen candidates in order with their gain and the running total."""
    reached = np.zeros(len(people), dtype=bool) if already is None else already.copy()
    pop = people["population"].to_numpy(float)
    tree = cKDTree(_metres(people["lon"], people["lat"]))
    near = tree.query_ball_point(_metres(candidates["lon"], candidates["lat"]), r=radius_m)
    chosen = []
    for _ in range(min(k, len(candidates))):
        gains = np.array([pop[idx][~reached[idx]].sum() if idx else 0.0 for idx in near])
        best = int(gains.argmax())
        if gains[best] <= 0:
            break
        reached[near[best]] = True
        chosen.append(
            {
                "candidate": candidates.index[best],
                "gain": gains[best],
                "reached": pop[reached].sum(),
            }
        )
    out = pd.DataFrame(chosen, columns=["candidate", "gain", "reached"])
    out["share"] = out["reached"] / pop.sum() if pop.sum() else np.nan
    return out
