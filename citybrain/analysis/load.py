"""Reading the ``citybrain`` schema into GeoDataFrames (the connection from
``CITYBRAIN_DATABASE_URL``, or the embedded cluster)."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Engine, text

from citybrain import sql as sql_files
from citybrain.db.connection import get_engine
from citybrain.domain import LEVELS
from citybrain.settings import get_settings


def engine() -> Engine:
    return get_engine(get_settings().sqlalchemy_url)


def table(
    name: str,
    columns: Sequence[str] = (),
    where: str | None = None,
    con: Engine | None = None,
    **params,
) -> gpd.GeoDataFrame:
    """``citybrain.<name>`` (all columns, or ``columns``) as a GeoDataFrame indexed by id.
    The table and column names are quoted as identifiers; ``where`` is a condition you write
    in SQL, with values bound through ``params`` (``where="status = :s", s="reported"``)."""
    # Assembled, not a file: the names are quoted by SQLAlchemy and the condition is the
    # planner's own SQL, values bound.
    wanted = [sa.column(c) for c in columns] or [sa.text("*")]
    stmt = sa.select(*wanted).select_from(sa.table(name, schema="citybrain"))
    if where is not None:
        stmt = stmt.where(text(where))
    frame = gpd.read_postgis(stmt, con or engine(), geom_col="geom", params=params)
    return frame.set_index("id") if "id" in frame.columns else frame


def query(sql: str, con: Engine | None = None, **params) -> pd.DataFrame:
    """``sql`` (a statement, or a planner's own) with ``params`` bound by name (``:since``)."""
    return pd.read_sql(text(sql), con or engine(), params=params)


def statement(name: str, con: Engine | None = None, **params) -> pd.DataFrame:
    """The statement ``citybrain/sql/analysis/<name>.sql`` as a DataFrame."""
    return query(sql_files.load(f"analysis/{name}"), con, **params)


def hierarchy(con: Engine | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The five levels, each with its parent id (and people for micro-grids)."""
    return {level: table(level, con=con) for level in LEVELS}


def people(con: Engine | None = None) -> pd.DataFrame:
    """Residents by micro-grid, placed at its point on surface, with its village and town."""
    return statement("people", con).set_index("id")


def grid_neighbours(con: Engine | None = None) -> pd.DataFrame:
    """Pairs of grids (a < b) that share a boundary."""
    return statement("grid_neighbours", con)


def camera_candidates(con: Engine | None = None) -> gpd.GeoDataFrame:
    """Where a new camera could stand (``source``, ``ref``, a point): every road vertex
    (junctions and bends, ``ref`` its id) and every compound's gate (``ref`` its code). The data
    hold no gates: a gate is taken as the point of the compound's boundary nearest a road (where
    a road crosses the boundary, the crossing); villager groups have none."""
    return gpd.read_postgis(
        text(sql_files.load("analysis/camera_candidates")),
        con or engine(),
        geom_col="geom",
        params={"kind": "compound"},
    )


def incidents(since: str = "1970-01-01", con: Engine | None = None) -> pd.DataFrame:
    """Incidents (public fields) with their grid, village and town, and their category's
    time limits."""
    return statement("incidents", con, since=since)


def road_network(con: Engine | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The road graph as the router takes it: vertices (id, lon, lat) and roads (source,
    target, length_m, cost, reverse_cost; travel seconds, a negative reverse cost one-way)."""
    return statement("road_vertices", con), statement("roads", con)
