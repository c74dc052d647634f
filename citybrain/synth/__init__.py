"""A realistic synthetic Jiashan county, deterministic for a given seed (``citybrain seed``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from citybrain import clock
from citybrain.crs import LOCAL
from citybrain.db.connection import connect
from citybrain.domain import CASE_FILE, LEVELS, Status, TeamStatus
from citybrain.importer import cases
from citybrain.ingest import (
    MicroGridIndex,
    copy_frame,
    derived_paused,
    load_points,
    point_ewkb,
    rebuild_coverage,
    reset_sequence,
)
from citybrain.layers import Layer, import_order, load_layers
from citybrain.people import passwords
from citybrain.sql import load
from citybrain.synth import keep as keep_rules
from citybrain.synth.departments import as_rows, make_departments
from citybrain.synth.hierarchy import Hierarchy, KeptLevel, build_hierarchy, seats_metres
from citybrain.synth.incidents import make_incidents
from citybrain.synth.outbreaks import inject
from citybrain.synth.people import make_people
from citybrain.synth.resources import Lookup, make_cameras, make_facilities, make_teams
from citybrain.synth.roads import RoadNetwork, make_roads

# What the seed writes, parents first (the hierarchy, its H3 coverage, the points, the roads).
WRITES = (
    *LEVELS,
    "h3_coverage",
    "teams",
    "cameras",
    "facilities",
    "departments",
    "users",
    "incidents",
    "case_files",
    "road_vertices",
    "roads",
)


def tables(layers: dict[str, Layer]) -> tuple[str, ...]:
    """What a seed replaces: what it writes, and the table of every other layer a county
    imports into (a layer of the county's own goes with the county it belonged to)."""
    return tuple(dict.fromkeys([*WRITES, *(layer.table for layer in import_order(layers))]))


def _hex_ewkb(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)


class Seeded(dict[str, int]):
    """Rows written per table; ``filled``: per kept level, the parents whose rows were
    generated because the county imported none of them (``seed --keep``); ``password``: the
    seeded people's one password (``synth.people``), to be shown once."""

    def __init__(self, filled: dict[str, list[str]] | None = None, password: str = "") -> None:
        super().__init__()
        self.filled = filled or {}
        self.password = password


@dataclass
class County:
    """A generated county, in local metres (see ``synth.geometry.LOCAL``), not yet loaded."""

    hierarchy: Hierarchy
    teams: pd.DataFrame
    cameras: pd.DataFrame
    facilities: pd.DataFrame
    incidents: pd.DataFrame
    roads: RoadNetwork
    outbreaks: pd.DataFrame  # ground truth of injected clusters (synth.outbreaks)
    end: datetime  # the end of its incident year: when its accounts were made


def generate(
    n_incidents: int,
    seed: int,
    end: datetime,
    towns_file: Path | None = None,
    on_town: Callable[[str, int], None] | None = None,
    kept: dict[str, KeptLevel] | None = None,
    outbreaks: int = 0,
) -> County:
    """The synthetic county for ``seed``: the same arguments give the same county."""
    rng = np.random.default_rng(seed)
    h = build_hierarchy(rng, towns_file, on_town, kept)
    lk = Lookup(h)
    teams = make_teams(h, lk, rng, end)
    cameras = make_cameras(h, lk, rng)
    facilities = make_facilities(h, lk, rng)
    incidents = make_incidents(h, lk, teams, n_incidents, rng, end)
    # Their own generator: the county without outbreaks is the same county.
    injected = inject(h, incidents, outbreaks, np.random.default_rng([seed, 1]), end)
    teams = busy_when_full(teams, injected.incidents)
    roads = make_roads(h, seats_metres())
    return County(h, teams, cameras, facilities, injected.incidents, roads, injected.truth, end)


def busy_when_full(teams: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """Teams whose status agrees with their load, as the service keeps it
    (``incidents/team_load.sql``): an available team holding its capacity of active incidents
    is busy."""
    held = incidents.loc[
        incidents["status"].isin([str(Status.dispatched), str(Status.on_site)]), "team_id"
    ].value_counts()
    full = teams["id"].map(held).fillna(0).to_numpy() >= teams["capacity"].to_numpy()
    available = (teams["status"] == str(TeamStatus.available)).to_numpy()
    return teams.assign(status=np.where(full & available, str(TeamStatus.busy), teams["status"]))


def default_end() -> datetime:
    """The end of the incident year when none is given: the start of the current hour (by the
    service's clock, ``citybrain.clock``)."""
    return clock.now().astimezone().replace(minute=0, second=0, microsecond=0)


def with_lonlat(frame: pd.DataFrame) -> pd.DataFrame:
    """A generated frame with its local ``x``/``y`` replaced by WGS84 ``lon``/``lat``."""
    lon, lat = LOCAL.inverse(frame["x"].to_numpy(), frame["y"].to_numpy())
    return frame.drop(columns=["x", "y"]).assign(lon=lon, lat=lat)


def load_outbreaks(conn, truth: pd.DataFrame) -> int:
    """The ground truth of injected outbreaks (synth.outbreaks)."""
    lon, lat = LOCAL.inverse(truth["x"].to_numpy(), truth["y"].to_numpy())
    with conn.cursor() as cur:
        cur.executemany(
            load("synth/outbreak"),
            [
                (
                    r.compound_code,
                    r.category,
                    r.started_at.to_pydatetime(),
                    r.ended_at.to_pydatetime(),
                    int(r.size),
                    float(x),
                    float(y),
                    [int(i) for i in r.incident_ids],
                )
                for r, x, y in zip(truth.itertuples(), lon, lat, strict=True)
            ],
        )
    return len(truth)


def load_roads(conn, roads: RoadNetwork) -> dict[str, int]:
    """Load a road network (pgRouting layout) and mark the routing data as changed."""
    lon, lat = LOCAL.inverse(roads.vertices[:, 0], roads.vertices[:, 1])
    vertices = pd.DataFrame({"id": np.arange(1, len(lon) + 1), "geom": point_ewkb(lon, lat)})
    edges = roads.edges.assign(geom=_hex_ewkb(LOCAL.to_wgs84(roads.edges["geom"].to_numpy())))
    edges.insert(0, "id", np.arange(1, len(edges) + 1))
    counts = {"road_vertices": copy_frame(conn, "road_vertices", vertices)}
    with derived_paused(conn, "roads"):
        counts["roads"] = copy_frame(conn, "roads", edges)
    conn.execute(load("synth/new_version"), {"key": "roads_version"})
    return counts


def build_county(
    engine: Engine,
    n_incidents: int = 100_000,
    seed: int = 1,
    towns_file: Path | None = None,
    end: datetime | None = None,
    progress: bool = False,
    keep: Sequence[str] = (),
    outbreaks: int = 0,
    layers: dict[str, Layer] | None = None,
) -> Seeded:
    """Replace the database's contents with a synthetic county; return row counts per table.

    ``keep``: levels (from the top: towns, villages, ...) and point layers (cameras,
    facilities) to keep as they are - a county's own data - generating the rest around them.
    Where a kept level has no rows in a parent (villages imported for eight towns of nine),
    the parent's rows are generated, marked derived, and named in the answer's ``filled``.
    Everything is written in one transaction: a failure leaves the previous contents intact.
    ``layers``: the layer declarations (default: CITYBRAIN_LAYERS_DIR's), for ``tables``.
    """
    if layers is None:
        from citybrain.settings import get_settings

        layers = load_layers(get_settings().layers_dir)
    replaced = tables(layers)
    end = end or default_end()
    url = str(engine.url.render_as_string(hide_password=False))
    levels, points = keep_rules.check(keep)
    with connect(url) as conn:
        kept = keep_rules.read_levels(conn, levels)
        kept_points = {name: keep_rules.read_points(conn, name) for name in points}
    bar = _progress_bar() if progress else None
    with bar or nullcontext():
        tick = _ticker(bar, "generate (towns)", 9)
        on_town = (lambda _name, k: tick(k)) if tick else None
        county = generate(n_incidents, seed, end, towns_file, on_town, kept, outbreaks)
        with connect(url) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            _clear(conn, replaced)
            counts = write_county(conn, county, kept_points, bar)
            conn.execute(load("synth/new_version"), {"key": "county_version"})
            for name in replaced:
                if name not in ("h3_coverage", "road_vertices", "case_files"):
                    reset_sequence(conn, name)
            conn.commit()
        with connect(url, autocommit=True) as conn:
            for name in replaced:
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier("citybrain", name)))
    return counts


def write_county(
    conn: psycopg.Connection,
    county: County,
    kept_points: dict[str, pd.DataFrame],
    bar: Progress | None = None,
) -> Seeded:
    """Write a generated ``county`` into emptied tables, parents first; the point layers in
    ``kept_points`` (a county's own, in lon/lat) stand instead of the generated ones."""
    h = county.hierarchy
    password = passwords.initial_password()
    counts = Seeded(filled=h.filled, password=password)
    for name, level in h.levels().items():
        wgs = level.wgs if level.wgs is not None else LOCAL.to_wgs84(level.geoms)
        with derived_paused(conn, name):
            counts[name] = copy_frame(conn, name, level.frame.assign(geom=_hex_ewkb(wgs)))
    index = MicroGridIndex(conn)
    counts["h3_coverage"] = rebuild_coverage(conn, index)
    for name in ("teams", "cameras", "facilities"):
        frame = kept_points.get(name)
        if frame is None:
            frame = with_lonlat(getattr(county, name))
        counts[name] = load_points(conn, name, frame, index, bulk=True)
    departments = make_departments(h)
    counts["departments"] = copy_frame(conn, "departments", as_rows(departments))
    people = make_people(
        h, county.teams, departments, passwords.hash_password(password), county.end
    )
    counts["users"] = copy_frame(conn, "users", people)
    # Their public facts, then their case files (what was reported, by whom: row security).
    incidents = with_lonlat(county.incidents).assign(id=np.arange(1, len(county.incidents) + 1))
    private = [c for c in CASE_FILE if c in incidents]
    counts["incidents"] = load_points(
        conn,
        "incidents",
        incidents.drop(columns=private),
        index,
        bulk=True,
        on_chunk=_ticker(bar, "incidents (load)", len(county.incidents)),
    )
    counts["case_files"] = cases.load(
        conn, incidents[["id", *private]].rename(columns={"id": "incident_id"})
    )
    counts.update(load_roads(conn, county.roads))
    counts["outbreaks"] = load_outbreaks(conn, county.outbreaks)
    return counts


def _clear(conn: psycopg.Connection, replaced: tuple[str, ...]) -> None:
    """Empty the tables a seed replaces (their names come from ``tables``: the seed's own and
    the layer files', which the layer loader has checked), and what was found in, and put
    into, the county being replaced: its alerts and injected outbreaks."""
    names = sql.SQL(", ").join(sql.Identifier("citybrain", t) for t in replaced)
    conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))
    conn.execute(load("synth/clear_findings"))


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def _ticker(bar: Progress | None, description: str, total: int) -> Callable[[int], None] | None:
    """A new task on ``bar`` and the function that advances it (None without a bar)."""
    if bar is None:
        return None
    task = bar.add_task(description, total=total)
    return lambda k: bar.advance(task, k)
