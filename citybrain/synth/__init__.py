"""A realistic synthetic Jiashan county, deterministic for a given seed (``citybrain seed``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from citybrain import clock
from citybrain.crs import LOCAL
from citybrain.db.connection import connect
from citybrain.db.models import POINT_TABLES
from citybrain.domain import LEVELS, Status, TeamStatus
from citybrain.ingest import (
    MicroGridIndex,
    copy_frame,
    derived_paused,
    load_points,
    point_ewkb,
    rebuild_coverage,
    reset_sequence,
)
from citybrain.synth import keep as keep_rules
from citybrain.synth.hierarchy import Hierarchy, KeptLevel, build_hierarchy, seats_metres
from citybrain.synth.incidents import make_incidents
from citybrain.synth.outbreaks import inject
from citybrain.synth.resources import Lookup, make_cameras, make_facilities, make_teams
from citybrain.synth.roads import RoadNetwork, make_roads

# What the seed writes, parents first (the hierarchy, its H3 coverage, the points, the roads).
TABLES = (*LEVELS, "h3_coverage", *POINT_TABLES, "road_vertices", "roads")


def _hex_ewkb(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)


class Seeded(dict[str, int]):
    """Rows written per table, and ``filled``: per kept level, the parents whose rows were
    generated because the county imported none of them (``seed --keep``)."""

    def __init__(self, filled: dict[str, list[str]] | None = None) -> None:
        super().__init__()
        self.filled = filled or {}


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
    return County(h, teams, cameras, facilities, injected.incidents, roads, injected.truth)


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
            "INSERT INTO citybrain.outbreaks (compound_code, category, started_at, ended_at, "
            "size, geom, incident_ids) VALUES (%s, %s, %s, %s, %s, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)",
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
    conn.execute(
        "INSERT INTO citybrain.meta (key, value) VALUES ('roads_version', gen_random_uuid()::text) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
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
) -> Seeded:
    """Replace the database's contents with a synthetic county; return row counts per table.

    ``keep``: levels (from the top: towns, villages, ...) and point layers (cameras,
    facilities) to keep as they are - a county's own data - generating the rest around them.
    Where a kept level has no rows in a parent (villages imported for eight towns of nine),
    the parent's rows are generated, marked derived, and named in the answer's ``filled``.
    Everything is written in one transaction: a failure leaves the previous contents intact.
    """
    end = end or default_end()
    url = str(engine.url.render_as_string(hide_password=False))
    levels, points = keep_rules.check(keep)
    with connect(url) as conn:
        kept = keep_rules.read_levels(conn, levels)
        kept_points = {name: keep_rules.read_points(conn, name) for name in points}
    bar = (
        Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        if progress
        else None
    )
    with bar or nullcontext():
        task = bar.add_task("generate (towns)", total=9) if bar else None
        county = generate(
            n_incidents,
            seed,
            end,
            towns_file,
            (lambda _m, k: bar.advance(task, k)) if bar else None,
            kept,
            outbreaks,
        )
        h = county.hierarchy

        wgs = {
            name: level.wgs if level.wgs is not None else LOCAL.to_wgs84(level.geoms)
            for name, level in h.levels().items()
        }
        counts = Seeded(filled=h.filled)
        with connect(url) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            conn.execute(
                "TRUNCATE "
                + ", ".join(f"citybrain.{t}" for t in TABLES)
                + " RESTART IDENTITY CASCADE"
            )
            # What was found in, and put into, the county being replaced goes with it.
            conn.execute(
                "TRUNCATE citybrain.alerts, citybrain.alert_events, citybrain.detector_runs, "
                "citybrain.outbreaks RESTART IDENTITY"
            )
            for name, level in h.levels().items():
                frame = level.frame.assign(geom=_hex_ewkb(wgs[name]))
                with derived_paused(conn, name):
                    counts[name] = copy_frame(conn, name, frame)
            index = MicroGridIndex(conn)
            counts["h3_coverage"] = rebuild_coverage(conn, index)
            for name in ("teams", "cameras", "facilities"):
                frame = kept_points.get(name)
                if frame is None:
                    frame = with_lonlat(getattr(county, name))
                counts[name] = load_points(conn, name, frame, index, bulk=True)
            task = bar.add_task("incidents (load)", total=len(county.incidents)) if bar else None
            counts["incidents"] = load_points(
                conn,
                "incidents",
                with_lonlat(county.incidents),
                index,
                bulk=True,
                on_chunk=(lambda k: bar.advance(task, k)) if bar else None,
            )
            counts.update(load_roads(conn, county.roads))
            counts["outbreaks"] = load_outbreaks(conn, county.outbreaks)
            conn.execute(
                "INSERT INTO citybrain.meta (key, value) VALUES "
                "('county_version', gen_random_uuid()::text) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            for name in TABLES:
                if name not in ("h3_coverage", "road_vertices"):
                    reset_sequence(conn, name)
            conn.commit()
        with connect(url, autocommit=True) as conn:
            for name in TABLES:
                conn.execute(f"ANALYZE citybrain.{name}")
    return counts
