"""Reading the ``citybrain`` schema into GeoDataFrames (the connection from
``CITYBRAIN_DATABASE_URL``, or the embedded cluster)."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Engine, text

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
    wanted = [sa.column(c) for c in columns] or [sa.text("*")]
    stmt = sa.select(*wanted).select_from(sa.table(name, schema="citybrain"))
    if where is not None:
        stmt = stmt.where(text(where))
    frame = gpd.read_postgis(stmt, con or engine(), geom_col="geom", params=params)
    return frame.set_index("id") if "id" in frame.columns else frame


def query(sql: str, con: Engine | None = None, **params) -> pd.DataFrame:
    return pd.read_sql(text(sql), con or engine(), params=params)


def hierarchy(con: Engine | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The five levels, each with its parent id (and people for micro-grids)."""
    return {level: table(level, con=con) for level in LEVELS}


def people(con: Engine | None = None) -> pd.DataFrame:
    """Residents by micro-grid, placed at its point on surface, with its village and town."""
    return query(
        "SELECT m.id, m.population, ST_X(p) AS lon, ST_Y(p) AS lat, v.id AS village_id, "
        "v.name AS village, t.name AS town "
        "FROM (SELECT *, ST_PointOnSurface(geom) p FROM citybrain.micro_grids) m "
        "JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = m.id "
        "JOIN citybrain.villages v ON v.id = ch.village_id "
        "JOIN citybrain.towns t ON t.id = ch.town_id",
        con,
    ).set_index("id")


def grid_neighbours(con: Engine | None = None) -> pd.DataFrame:
    """Pairs of grids (a < b) that share a boundary."""
    return query(
        "SELECT a.id AS a, b.id AS b FROM citybrain.grids a JOIN citybrain.grids b "
        "ON a.id < b.id AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, '****1****')",
        con,
    )


def camera_candidates(con: Engine | None = None) -> gpd.GeoDataFrame:
    """Where a new camera could stand (``source``, ``ref``, a point): every road vertex
    (junctions and bends, ``ref`` its id) and every compound's gate (``ref`` its code). The data
    hold no gates: a gate is taken as the point of the compound's boundary nearest a road (where
    a road crosses the boundary, the crossing); villager groups have none."""
    sql = (
        "SELECT 'road_vertex' AS source, v.id::text AS ref, v.geom FROM citybrain.road_vertices v "
        "UNION ALL "
        "SELECT 'gate', c.code, ST_ClosestPoint(ST_Boundary(c.geom), r.geom) "
        "FROM citybrain.compounds c CROSS JOIN LATERAL ("
        "  SELECT geom FROM citybrain.roads ORDER BY geom <-> c.geom LIMIT 1) r "
        "WHERE c.kind = :kind"
    )
    return gpd.read_postgis(
        text(sql), con or engine(), geom_col="geom", params={"kind": "compound"}
    )


def incidents(since: str = "1970-01-01", con: Engine | None = None) -> pd.DataFrame:
    """Incidents (public fields) with their grid, village and town, and their category's
    time limits."""
    return query(
        "SELECT i.id, i.category, i.status, i.severity, i.reported_at, i.dispatched_at, "
        "i.resolved_at, i.team_id, i.h3_7, i.h3_8, i.h3_9, ST_X(i.geom) AS lon, "
        "ST_Y(i.geom) AS lat, g.id AS grid_id, g.name AS grid, v.name AS village, t.name AS town, "
        "c.dispatch_minutes, c.resolve_hours "
        "FROM citybrain.incidents i JOIN citybrain.categories c ON c.name = i.category "
        "JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id "
        "JOIN citybrain.grids g ON g.id = ch.grid_id "
        "JOIN citybrain.villages v ON v.id = ch.village_id "
        "JOIN citybrain.towns t ON t.id = ch.town_id "
        "WHERE i.reported_at >= CAST(:since AS timestamptz)",
        con,
        since=since,
    )


def road_network(con: Engine | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The road graph as the router takes it: vertices (id, lon, lat) and roads (source,
    target, length_m, cost, reverse_cost; travel seconds, a negative reverse cost one-way)."""
    vertices = query(
        "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM citybrain.road_vertices ORDER BY id",
        con,
    )
    roads = query(
        "SELECT source, target, length_m, cost, reverse_cost FROM citybrain.roads ORDER BY id", con
    )
    return vertices, roads
