"""The hierarchy in numbers."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

PARENT = {
    "villages": "town_id",
    "grids": "village_id",
    "compounds": "grid_id",
    "micro_grids": "compound_id",
}
EQUAL_AREA = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global, equal area


def people_by_level(levels: dict[str, gpd.GeoDataFrame]) -> dict[str, pd.DataFrame]:
    """Residents and households of every unit of every level, summed up from micro-grids."""
    people = levels["micro_grids"][["population", "households"]]
    out = {"micro_grids": people}
    for parent, child in (
        ("compounds", "micro_grids"),
        ("grids", "compounds"),
        ("villages", "grids"),
        ("towns", "villages"),
    ):
        people = people.groupby(levels[child][PARENT[child]]).sum()
        people = people.reindex(levels[parent].index, fill_value=0)
        out[parent] = people
    return out


def hierarchy_summary(levels: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """Per level: units, area (km²) in total and per unit, residents and households."""
    people = people_by_level(levels)
    rows = []
    for level, frame in levels.items():
        area = frame.to_crs(EQUAL_AREA).area / 1e6
        pop = people[level]["population"].reindex(frame.index).fillna(0)
        rows.append(
            {
                "level": level,
                "units": len(frame),
                "area_km2": area.sum(),
                "median_unit_km2": area.median(),
                "population": pop.sum(),
                "households": people[level]["households"].reindex(frame.index).fillna(0).sum(),
                "median_unit_population": pop.median(),
            }
        )
    return pd.DataFrame(rows).set_index("level")
