"""The rules a row must meet to enter a layer, checked on whole columns at once: keys present
and unique, geometry of the right kind inside the county, parents found, values in range,
and what each layer fills in when the source is silent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from citybrain.crs import LOCAL
from citybrain.domain import (
    CATEGORIES,
    CATEGORIES_BY_NAME,
    COUNTY_NAME,
    COUNTY_REGION,
    TOWNS_BY_NAME,
    LocationQuality,
    initial_tier,
)
from citybrain.errors import InvalidInput
from citybrain.importer.county import Areas, County
from citybrain.importer.prepare import Prepared
from citybrain.importer.report import Report

# A child must have at least this share of its area in the parent its code names.
MIN_SHARE_IN_PARENT = 0.5
MAX_CAMERA_RANGE_M = 500  # the schema's ck_cameras_range_max
# Defaults by camera kind where the ledger does not say: field of view and range.
CAMERA_DEFAULTS = {
    "bullet": (70.0, 100.0),
    "dome": (360.0, 60.0),
    "face": (45.0, 30.0),
    "plate": (40.0, 50.0),
}
# A unique index holds keys of at most 2,704 bytes; a code or work-order number is a few dozen
# characters, so a longer one is a cell pasted into the wrong column (200 fit in any encoding).
MAX_KEY_CHARS = 200


def required(prep: Prepared, report: Report) -> None:
    """A required column the source cannot feed refuses the import; an empty cell in one
    rejects the row."""
    for column in prep.layer.columns.values():
        if not column.required or column.name == prep.layer.key:
            continue  # (the key: keys() below, which may find a town's code by its name)
        if column.name not in prep.frame:
            raise InvalidInput(
                f"{prep.layer.id} needs {column.name} ({column.doc}): map a column to it, "
                f"e.g. --map {column.name}=<column>"
            )
        prep.reject(report, prep.frame[column.name].isna(), column.name, f"missing {column.name}")


def keys(prep: Prepared, report: Report) -> None:
    key = prep.layer.key
    if prep.layer.table == "towns":
        _town_codes_from_names(prep, report)
    if key not in prep.frame:
        prep.frame[key] = pd.Series(pd.NA, index=prep.frame.index, dtype="string")
    values = prep.frame[key]
    prep.reject(report, values.isna(), key, f"missing {key}: every row needs one")
    prep.reject(
        report,
        values.str.len().gt(MAX_KEY_CHARS).fillna(False).astype(bool),
        key,
        f"longer than {MAX_KEY_CHARS} characters: not a {key}",
        values,
    )
    present = values.notna() & ~pd.Series(prep.bad, index=values.index)
    dup = (present & values.duplicated(keep="first")).to_numpy()
    if not dup.any():
        return
    first_row = prep.frame.loc[present].drop_duplicates(key, keep="first").set_index(key)["row"]
    reasons = values.map(lambda c: f"duplicate {key}: row {first_row.get(c)} has it too")
    prep.reject(report, dup, key, reasons, values)


def _town_codes_from_names(prep: Prepared, report: Report) -> None:
    """Town files often carry names only: a town of the county is known by its name."""
    frame = prep.frame
    code = frame["code"] if "code" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    from_name = frame["name"].map(
        lambda n: TOWNS_BY_NAME[n].code if n in TOWNS_BY_NAME else pd.NA, na_action="ignore"
    )
    fill = code.isna() & from_name.notna()
    if fill.any():
        frame["code"] = code.where(~fill, from_name).astype("string")
        prep.given.add("code")
        report.note(
            f"{int(fill.sum())} towns without a code took the code of the {COUNTY_NAME} town "
            "of the same name"
        )
    unknown = code.isna() & from_name.isna() & frame["name"].notna()
    prep.reject(
        report,
        unknown,
        "name",
        f"no code, and not the name of a town of {COUNTY_NAME} "
        f"({', '.join(TOWNS_BY_NAME)}): map the code column",
        frame["name"],
    )


def geometry_kind(prep: Prepared, report: Report, allow_points: bool = False) -> None:
    """Every row has a geometry of the layer's kind (MultiPoints of one point are points)."""
    geoms = prep.geoms
    missing = np.array([g is None for g in geoms], dtype=bool)
    prep.reject(report, missing, "geometry", "no location: no coordinates, geometry or address")
    types = np.array([g.geom_type if g is not None else "" for g in geoms], dtype=object)
    single = np.array(
        [t == "MultiPoint" and len(g.geoms) == 1 for g, t in zip(geoms, types, strict=True)],
        dtype=bool,
    )
    if single.any():
        geoms[single] = [g.geoms[0] for g in geoms[single]]
        types[single] = "Point"
    if prep.layer.geometry == "point":
        wanted = {"Point"}
    else:
        wanted = {"Polygon", "MultiPolygon"} | ({"Point"} if allow_points else set())
    wrong = ~missing & ~np.isin(types, list(wanted))
    prep.reject(
        report, wrong, "geometry", f"not a {prep.layer.geometry}", pd.Series(types).str.lower()
    )


def points_inside(prep: Prepared, county: County, report: Report) -> None:
    lon, lat = _xy(prep.geoms)
    outside = ~np.isnan(lon) & ~county.inside(lon, lat)
    if not outside.any():
        return
    where = np.full(len(lon), None, dtype=object)
    if county.outline is not None:
        pts = shapely.points(lon[outside], lat[outside])
        with np.errstate(over="ignore", invalid="ignore"):  # (1e308 degrees: inf metres out)
            metres = shapely.distance(
                LOCAL.to_metres(pts), LOCAL.to_metres(np.array([county.outline.boundary]))
            )
        where[outside] = [
            f"{lo:.6f}, {la:.6f} ({d:,.0f} m outside)"
            for lo, la, d in zip(lon[outside], lat[outside], metres, strict=True)
        ]
    else:
        where[outside] = [
            f"{lo:.6f}, {la:.6f}" for lo, la in zip(lon[outside], lat[outside], strict=True)
        ]
    prep.reject(report, outside, "geometry", "outside the county", where)


def _xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.array([g is not None and g.geom_type == "Point" for g in geoms], dtype=bool)
    lon = np.full(len(geoms), np.nan)
    lat = np.full(len(geoms), np.nan)
    if ok.any():
        xy = shapely.get_coordinates(geoms[ok].astype(object))
        lon[ok], lat[ok] = xy[:, 0], xy[:, 1]
    return lon, lat


def towns_in_region(prep: Prepared, report: Report) -> None:
    """Towns define the county: they can only be checked against where the county can be."""
    ok = np.array([g is not None for g in prep.geoms], dtype=bool)
    region = shapely.box(*COUNTY_REGION)
    outside = np.zeros(len(ok), dtype=bool)
    outside[ok] = ~shapely.within(prep.geoms[ok].astype(object), region)
    prep.reject(report, outside, "geometry", "reaches beyond the county's region")


# --- parents ---------------------------------------------------------------------------------


def parents(prep: Prepared, county: County, report: Report) -> None:
    """Each row's parent: the code in ``parent``, else the longest parent code that prefixes
    its code, else the parent it overlaps most. Sets the layer's foreign key."""
    layer = prep.layer
    parent = layer.parent
    if parent is None:  # (towns, and layers of their own: no level above)
        return
    level = county.level(parent.table)
    frame = prep.frame
    n = len(frame)
    found = np.full(n, -1, dtype=np.int64)
    method = np.full(n, "", dtype=object)
    if not len(level):
        prep.reject(
            report,
            np.ones(n, dtype=bool),
            "parent",
            f"no {parent.table} loaded yet: import them first",
        )
        frame[parent.fk] = pd.array([pd.NA] * n, dtype="Int64")
        return
    if "parent" in frame:
        given = frame["parent"]
        idx = given.map(level.by_code, na_action="ignore")
        unknown = given.notna() & idx.isna()
        prep.reject(report, unknown, "parent", f"no {parent.table} with this code", given)
        ok = idx.notna().to_numpy()
        found[ok] = idx[ok].astype(np.int64)
        method[ok] = "given"
    by_prefix = _by_prefix(frame["code"], level)
    use = (found < 0) & (by_prefix >= 0)
    found[use] = by_prefix[use]
    method[use] = "code"
    _check_share(prep, level, found, method, report, parent.table)
    geometric = (found < 0) & ~prep.bad
    if geometric.any():
        found[geometric] = _largest_overlap(prep.geoms[geometric], level)
        method[geometric] = "overlap"
        lost = geometric & (found < 0)
        prep.reject(report, lost, "geometry", f"outside every {parent.table[:-1]}: no parent")
    frame[parent.fk] = pd.array(
        np.where(found >= 0, level.frame["id"].to_numpy()[np.maximum(found, 0)], 0), dtype="Int64"
    ).astype("Int64")
    frame.loc[found < 0, parent.fk] = pd.NA
    prep.given.add(parent.fk)
    counts = pd.Series(method[~prep.bad]).value_counts()
    spelled = {
        "given": "the parent column",
        "code": "the code's prefix",
        "overlap": "the largest overlap",
    }
    for how, count in counts.items():
        if how:
            report.note(f"{count} rows found their parent by {spelled[how]}")
    for row, code in frame.loc[(method == "overlap") & ~prep.bad, ["row", "code"]].itertuples(
        index=False
    ):
        report.note("parent by the largest overlap", int(row), "parent", key=code)


def _by_prefix(codes: pd.Series, level: Areas) -> np.ndarray:
    out = np.full(len(codes), -1, dtype=np.int64)
    lengths = sorted({len(c) for c in level.frame["code"]}, reverse=True)
    text = codes.astype(object).to_numpy()
    for i, code in enumerate(text):
        if not isinstance(code, str):
            continue
        for k in lengths:
            if len(code) > k and code[:k] in level.by_code:
                out[i] = level.by_code[code[:k]]
                break
    return out


def _check_share(prep: Prepared, level: Areas, found, method, report: Report, above: str) -> None:
    """A row placed by its code must lie (mostly) in that parent; else say where it lies."""
    check = (found >= 0) & ~prep.bad & np.array([g is not None for g in prep.geoms])
    if not check.any():
        return
    geoms = prep.geoms[check].astype(object)
    if prep.layer.table == "villages" and shapely.get_type_id(geoms).max() == 0:
        inside = shapely.intersects(level.geoms[found[check]], geoms)
        share = inside.astype(float)
    else:
        mine = LOCAL.to_metres(geoms)
        theirs = LOCAL.to_metres(level.geoms[found[check]])
        share = shapely.area(shapely.intersection(mine, theirs)) / np.maximum(
            shapely.area(mine), 1e-9
        )
    wrong = np.zeros(len(found), dtype=bool)
    wrong[check] = share < MIN_SHARE_IN_PARENT
    if not wrong.any():
        return
    elsewhere = _largest_overlap(prep.geoms[wrong], level)
    names = level.frame["code"].to_numpy()
    detail = np.full(len(found), None, dtype=object)
    detail[wrong] = [
        f"{names[p]} by {method[i]}, but it lies in {names[e] if e >= 0 else 'none'}"
        for i, p, e in zip(np.flatnonzero(wrong), found[wrong], elsewhere, strict=True)
    ]
    prep.reject(report, wrong, "parent", f"lies outside its {above[:-1]}", detail)


def _largest_overlap(geoms: np.ndarray, level: Areas) -> np.ndarray:
    out = np.full(len(geoms), -1, dtype=np.int64)
    src, cand = level.tree.query(geoms.astype(object), predicate="intersects")
    if not len(src):
        return out
    a = LOCAL.to_metres(geoms[src].astype(object))
    b = LOCAL.to_metres(level.geoms[cand])
    points = shapely.get_type_id(a) == 0
    area = np.where(points, 1.0, 0.0)
    if (~points).any():
        area[~points] = shapely.area(shapely.intersection(a[~points], b[~points]))
    order = np.lexsort((cand, -area, src))
    src, cand, area = src[order], cand[order], area[order]
    first = np.r_[True, src[1:] != src[:-1]]
    keep = first & (area > 0)
    out[src[keep]] = cand[keep]
    return out


# --- per layer -------------------------------------------------------------------------------


def village_kinds(prep: Prepared, report: Report) -> None:
    """Village or community: given, else by the code (001-199 community, 200-399 village),
    else by the name (…社区 / …村)."""
    frame = prep.frame
    kind = frame["kind"] if "kind" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    seq = pd.to_numeric(frame["code"].str[-3:], errors="coerce")
    twelve = frame["code"].str.fullmatch(r"\d{12}").fillna(False).astype(bool)
    by_code = pd.Series(pd.NA, index=frame.index, dtype="string")
    by_code[twelve & seq.between(1, 199)] = "community"
    by_code[twelve & seq.between(200, 399)] = "village"
    name = frame["name"].fillna("")
    by_name = pd.Series(pd.NA, index=frame.index, dtype="string")
    by_name[name.str.endswith(("社区", "居委会"))] = "community"
    by_name[name.str.endswith(("村", "村委会"))] = "village"
    frame["kind"] = kind.fillna(by_code).fillna(by_name).astype("string")
    prep.given.add("kind")
    prep.reject(
        report,
        frame["kind"].isna(),
        "kind",
        "village or community cannot be told from the code or name: map kind",
        frame["name"],
    )


def compound_kinds(prep: Prepared, report: Report) -> None:
    frame = prep.frame
    kind = frame["kind"] if "kind" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    guess = np.where(frame["name"].fillna("").str.endswith("组"), "villager_group", "compound")
    frame["kind"] = kind.fillna(pd.Series(guess, index=frame.index)).astype("string")
    prep.given.add("kind")


def team_grids(prep: Prepared, county: County, report: Report) -> None:
    """A team's home grid: the grid code given, else the grid at its position."""
    grids = county.level("grids")
    frame = prep.frame
    found = np.full(len(frame), -1, dtype=np.int64)
    if "grid" in frame:
        idx = frame["grid"].map(grids.by_code, na_action="ignore")
        prep.reject(
            report,
            frame["grid"].notna() & idx.isna(),
            "grid",
            "no grid with this code",
            frame["grid"],
        )
        ok = idx.notna().to_numpy()
        found[ok] = idx[ok].astype(np.int64)
    todo = (found < 0) & ~prep.bad
    if todo.any():
        found[todo] = _largest_overlap(prep.geoms[todo], grids)
    prep.reject(report, found < 0, "grid", "no home grid: give the grid code, or place it in one")
    frame["grid_id"] = pd.array(
        np.where(
            found >= 0, grids.frame["id"].to_numpy()[np.maximum(found, 0)] if len(grids) else 0, 0
        ),
        dtype="Int64",
    )
    prep.given.add("grid_id")


def team_defaults(prep: Prepared, report: Report, now: pd.Timestamp) -> None:
    frame = prep.frame
    n = len(frame)
    defaults = {
        "status": pd.Series(["available"] * n, dtype="string"),
        "skills": pd.Series([sorted(c.name for c in CATEGORIES)] * n, dtype=object),
        "members": pd.Series([[] for _ in range(n)], dtype=object),
        "capacity": pd.Series([5] * n, dtype="Int64"),
        "position_at": pd.Series([now] * n),
    }
    _fill(frame, defaults)
    capacity = frame["capacity"].astype("Int64")
    prep.reject(
        report,
        ~capacity.gt(0).fillna(False).astype(bool),
        "capacity",
        "must be 1 or more",
        capacity,
    )


def _fill(frame: pd.DataFrame, defaults: dict[str, pd.Series]) -> None:
    """Missing cells (and missing columns) take the layer's default; such values are only
    written into new rows, never over a row's current value (not in ``given``)."""
    for name, default in defaults.items():
        default.index = frame.index
        frame[name] = frame[name].where(frame[name].notna(), default) if name in frame else default


def camera_values(prep: Prepared, report: Report) -> None:
    frame = prep.frame
    n = len(frame)
    kind = frame["kind"].fillna("bullet").astype(str)  # (a row without a kind is rejected)
    fov_default = kind.map(lambda k: CAMERA_DEFAULTS[k][0]).astype(float)
    range_default = kind.map(lambda k: CAMERA_DEFAULTS[k][1]).astype(float)
    _fill(
        frame,
        {
            "heading": pd.Series([0.0] * n),
            "fov": fov_default,
            "range_m": range_default,
            "online": pd.Series([True] * n, dtype="boolean"),
            "owner": pd.Series(["unknown"] * n, dtype="string"),
        },
    )
    # (A tiny negative heading is 360.0 modulo 360 in floating point: the schema wants < 360.)
    heading = frame["heading"].astype(float) % 360.0
    frame["heading"] = heading.where(heading < 360.0, 0.0)
    prep.reject(
        report,
        ~frame["fov"].astype(float).between(1e-9, 360),
        "fov",
        "field of view must be in (0, 360]",
        frame["fov"],
    )
    prep.reject(
        report,
        ~frame["range_m"].astype(float).between(1e-9, MAX_CAMERA_RANGE_M),
        "range_m",
        f"range must be in (0, {MAX_CAMERA_RANGE_M}] metres",
        frame["range_m"],
    )


def facility_levels(prep: Prepared, report: Report) -> None:
    """Only party-and-people service centres have a level (一核多点: county/town/village/
    station), and they must."""
    frame = prep.frame
    level = (
        frame["level"] if "level" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    centre = frame["kind"].eq("party_service_centre").fillna(False).astype(bool)
    prep.reject(
        report,
        centre & level.isna(),
        "level",
        "a party-and-people service centre needs its level: county, town, village or station",
    )
    dropped = ~centre & level.notna()
    if dropped.any():
        report.note(
            f"{int(dropped.sum())} facilities other than service centres: their level is not kept"
        )
    frame["level"] = level.where(centre, pd.NA).astype("string")
    prep.given.add("level")


def incident_values(prep: Prepared, report: Report, now: pd.Timestamp) -> None:
    frame = prep.frame
    n = len(frame)
    prep.reject(
        report, frame.get("category", pd.Series([pd.NA] * n)).isna(), "category", "missing category"
    )
    prep.reject(
        report,
        frame.get("reported_at", pd.Series([pd.NaT] * n)).isna(),
        "reported_at",
        "missing time reported",
    )
    _fill(
        frame,
        {
            "status": pd.Series(["reported"] * n, dtype="string"),
            "source": pd.Series(["hotline_12345"] * n, dtype="string"),
            "severity": pd.Series([1] * n, dtype="Int64"),
        },
    )
    severity = frame["severity"].astype("Int64")
    prep.reject(
        report,
        ~severity.between(1, 4).fillna(False).astype(bool),
        "severity",
        "severity must be 1 to 4",
        severity,
    )
    pairs = pd.MultiIndex.from_arrays([frame["category"].astype(object), severity.fillna(1)])
    codes, uniques = pd.factorize(pairs)
    tiers = np.array(
        [
            str(initial_tier(c, int(s))) if c in CATEGORIES_BY_NAME and 1 <= s <= 4 else None
            for c, s in uniques
        ],
        dtype=object,
    )
    tier = pd.Series(tiers[codes], index=frame.index, dtype="string")
    _fill(frame, {"tier": tier})
    _timeline(prep, report)
    frame["updated_at"] = now


def incident_teams(prep: Prepared, county: County, report: Report) -> None:
    frame = prep.frame
    if "team" not in frame:
        return
    ids = frame["team"].map(county.teams, na_action="ignore")
    prep.reject(
        report, frame["team"].notna() & ids.isna(), "team", "no team with this code", frame["team"]
    )
    frame["team_id"] = ids.astype("Int64")
    prep.given.add("team_id")


def _timeline(prep: Prepared, report: Report) -> None:
    """Each step no earlier than the one before it, exactly as the schema's
    ck_incidents_timeline states it (a test checks that the two agree)."""
    frame = prep.frame
    nat = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    r, d, o, v, c = (
        frame.get(s, nat)
        for s in ("reported_at", "dispatched_at", "on_site_at", "resolved_at", "closed_at")
    )
    for step, at, before in (
        ("dispatched_at", d, r),
        ("on_site_at", o, d.fillna(r)),
        ("resolved_at", v, o.fillna(d).fillna(r)),
        ("closed_at", c, v.fillna(r)),
    ):
        early = (at.notna() & before.notna() & (at < before)).to_numpy()
        prep.reject(report, early, step, "earlier than the step before it", at)


def location_quality(prep: Prepared) -> None:
    if "location_quality" not in prep.frame:
        prep.frame["location_quality"] = str(LocationQuality.exact)
    prep.given.add("location_quality")
