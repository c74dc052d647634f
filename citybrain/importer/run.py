"""One import, start to end: read the source, map and parse its columns, place every row,
check it, repair polygons, then write it all or nothing (``--keep-going``: the good rows) in
one transaction, and record the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import shapely

from citybrain import clock
from citybrain.domain import LEVELS, LocationQuality
from citybrain.errors import InvalidInput
from citybrain.importer import checks, coords, repair, write
from citybrain.importer.county import County
from citybrain.importer.geocode import Gazetteer
from citybrain.importer.mapping import load as load_mapping
from citybrain.importer.prepare import (
    Prepared,
    all_points,
    attributes,
    location,
    parse_columns,
)
from citybrain.importer.report import Report
from citybrain.importer.sources import SourceTable, read_source
from citybrain.layers import Layer, check_against_database, importable


@dataclass
class Options:
    """What ``citybrain import`` and ``POST /imports/{layer}`` take besides the file."""

    crs: str | None = None
    encoding: str | None = None
    maps: list[str] = field(default_factory=list)
    mapping_file: Path | None = None
    sheet: str | None = None
    dry_run: bool = False
    keep_going: bool = False
    tolerance_m: float = repair.TOLERANCE_M

    def recorded(self) -> dict:
        out = asdict(self)
        out["mapping_file"] = str(self.mapping_file) if self.mapping_file else None
        return out


Progress = Callable[[str, int | None], Callable[[int], None]]


def run_import(
    conn: psycopg.Connection,
    layer_name: str | Layer,
    path: Path,
    options: Options,
    actor: str,
    timezone: str,
    source_name: str | None = None,
    progress: Progress | None = None,
    max_unpacked_mb: int | None = None,
) -> Report:
    """Import ``path`` into the layer ``layer_name`` (its name, or its declaration) through
    ``conn`` (committed on success when not a dry run; rolled back otherwise). Problems with
    rows are in the report; problems with the whole source (unreadable, no location, an
    unknown CRS) raise ``InvalidInput``. A zip or workbook may unpack to ``max_unpacked_mb``
    (default: from CITYBRAIN_IMPORT_MAX_MB)."""
    started = clock.now()  # business time: what "in the future" means for the rows
    layer = importable(layer_name)
    check_against_database({layer.id: layer}, conn)  # a layer file ahead of its migration
    if options.crs:
        coords.checked(coords.parse(options.crs))  # a wrong option before a long read
    mapping = load_mapping(layer, options.mapping_file, options.maps)
    table = read_source(path, options.encoding, options.sheet, source_name, max_unpacked_mb)
    report = Report(layer.id, table.name, options.dry_run, rows=len(table))
    report.encoding = table.encoding
    for note in table.notes:
        report.note(note)
    prep = _prepare(conn, layer, table, mapping, options, report, timezone, started)
    good = prep.good()
    write_it = not options.dry_run and (report.ok or options.keep_going) and len(good) > 0
    try:
        import_id = (
            write.record(conn, layer.id, table, options.recorded(), actor, started)
            if write_it
            else None
        )
        tick = progress(f"{layer.id} (write)", len(good)) if progress and len(good) else None
        outcome = write.write(conn, good, import_id, actor, on_chunk=tick) if len(good) else None
        if outcome:
            report.inserted, report.updated, report.unchanged = (
                outcome.inserted,
                outcome.updated,
                outcome.unchanged,
            )
        if import_id is not None:
            _after(conn, layer, good, outcome, import_id)
            write.finish(conn, import_id, report.counts())
            report.import_id = import_id
            conn.commit()
            report.written = True
        else:
            conn.rollback()
    except psycopg.errors.IntegrityError as exc:
        conn.rollback()  # a rule of the schema the checks above do not know: nothing written
        raise InvalidInput(_refused(exc)) from exc
    except psycopg.DataError as exc:
        conn.rollback()
        raise InvalidInput(_refused(exc)) from exc
    except BaseException:
        conn.rollback()
        raise
    return report


def _refused(exc: psycopg.Error) -> str:
    diag = exc.diag
    what = diag.constraint_name or diag.message_primary or str(exc)
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    return f"the database refused the rows, nothing was written: {what}{detail}"


def _prepare(conn, layer: Layer, table: SourceTable, mapping, options, report, timezone, now):
    frame, chosen, bad = parse_columns(layer, table, mapping, report, timezone)
    given = {c for c in frame.columns if c != "row"}
    prep = Prepared(
        layer,
        frame,
        np.full(len(frame), None, dtype=object),
        given,
        {target: source for target, source in chosen.items()},
        attributes(table, set(chosen.values())),
        bad=bad.any(axis=1).to_numpy().copy() if len(bad.columns) else np.zeros(len(frame), bool),
    )
    location(prep, table, report, options.crs)
    county = County(conn)
    if layer.import_ and layer.import_.address:
        _geocode(conn, prep, report)
    checks.required(prep, report)
    checks.keys(prep, report)
    seats = False
    if layer.geometry == "polygon":
        checks.geometry_kind(prep, report, allow_points=layer.table == "villages")
        seats = layer.table == "villages" and all_points(prep.geoms[~prep.bad])
        if not seats:
            checks.geometry_kind(prep, report)
            repair.make_valid(prep, report)
        if layer.parent is not None:
            checks.parents(prep, county, report)
        else:  # towns, or a layer of its own: only where the county can be is known
            checks.towns_in_region(prep, report)
        _polygon_values(prep, report)
        if seats:
            repair.villages_from_seats(prep, county, report)
        else:
            prep.frame["derived"] = (
                prep.frame["derived"].fillna(False).astype(bool)
                if "derived" in prep.frame
                else False
            )
        if not seats and layer.table in LEVELS:  # each level tiles the one above it
            repair.coverage(prep, county, report, options.tolerance_m)
    else:
        checks.geometry_kind(prep, report)
        checks.points_inside(prep, county, report)
        _point_values(prep, county, report, pd.Timestamp(now))
    return prep


def _polygon_values(prep: Prepared, report: Report) -> None:
    name = prep.layer.table
    if name == "villages":
        checks.village_kinds(prep, report)
    elif name == "compounds":
        checks.compound_kinds(prep, report)
    elif name == "micro_grids":
        for column in ("population", "households"):
            if column not in prep.frame:
                prep.frame[column] = pd.array([0] * len(prep.frame), dtype="Int64")
            prep.frame[column] = prep.frame[column].fillna(0)
            prep.reject(report, prep.frame[column] < 0, column, "must not be negative")


def _point_values(prep: Prepared, county: County, report: Report, now: pd.Timestamp) -> None:
    name = prep.layer.table
    if name == "teams":
        checks.team_grids(prep, county, report)
        checks.team_defaults(prep, report, now)
    elif name == "cameras":
        checks.camera_values(prep, report)
    elif name == "facilities":
        checks.facility_levels(prep, report)
    elif name == "incidents":
        checks.incident_values(prep, report, now)
        checks.incident_teams(prep, county, report)
        checks.location_quality(prep)


def _geocode(conn, prep: Prepared, report: Report) -> None:
    """Rows without coordinates but with an address: placed by the county's own names."""
    missing = np.array([g is None for g in prep.geoms], dtype=bool) & ~prep.bad
    quality = pd.Series([str(LocationQuality.exact)] * len(prep.geoms), dtype=object)
    if "location_quality" in prep.frame:  # an export read back: how it was placed then
        given = prep.frame["location_quality"].astype(object).to_numpy()
        quality[:] = np.where(pd.isna(given), quality, given)
    if missing.any() and "address" in prep.frame:
        addresses = prep.frame["address"][missing]
        lon, lat, level = Gazetteer(conn).place_all(addresses)
        hit = ~np.isnan(lon)
        rows = np.flatnonzero(missing)
        prep.geoms[rows[hit]] = shapely.points(lon[hit], lat[hit])
        quality.iloc[rows[hit]] = level[hit]
        unmatched = np.zeros(len(prep.geoms), dtype=bool)
        unmatched[rows[~hit]] = addresses.notna().to_numpy()[~hit]
        prep.reject(
            report,
            unmatched,
            "address",
            "no coordinates, and the address names no compound, grid, village or town of the "
            "county unambiguously",
            prep.frame["address"],
        )
        if hit.any():
            by_level = pd.Series(level[hit]).value_counts().items()
            report.note(
                f"{int(hit.sum())} rows without coordinates placed by their address "
                f"({', '.join(f'{q}: {n}' for q, n in by_level)})"
            )
    prep.frame["location_quality"] = quality.to_numpy()


def _after(conn, layer: Layer, good: Prepared, outcome, import_id: int) -> None:
    """Data derived from what was written, made current in the same transaction."""
    if layer.table == "micro_grids" and outcome and (outcome.inserted or outcome.updated):
        write.after_micro_grids(conn)
    if layer.table == "incidents":
        write.announce(conn, import_id)
