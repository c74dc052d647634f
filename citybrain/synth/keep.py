"""``seed --keep``: the levels a county brought in itself (towns, villages, ... and its cameras
and facilities) read back from the database, to be kept as they are while the synthetic
county is generated around and below them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from citybrain.crs import LOCAL
from citybrain.errors import InvalidInput
from citybrain.synth.hierarchy import LEVELS, PARENT_COL, KeptLevel

KEEPABLE_POINTS = ("cameras", "facilities")
# What a kept row carries besides code, name and geometry, per level.
_EXTRA = {
    "villages": ("kind",),
    "compounds": ("kind",),
    "micro_grids": ("population", "households"),
}
_POINT_COLUMNS = {
    "cameras": ("code", "name", "kind", "heading", "fov", "range_m", "online", "owner"),
    "facilities": ("code", "kind", "level", "name", "capacity"),
}


def check(keep: Sequence[str]) -> tuple[list[str], list[str]]:
    """The hierarchy levels (a prefix: towns, then villages, ...) and point layers to keep."""
    levels = [k for k in keep if k in LEVELS]
    points = [k for k in keep if k in KEEPABLE_POINTS]
    unknown = [k for k in keep if k not in LEVELS and k not in KEEPABLE_POINTS]
    if unknown:
        raise InvalidInput(
            f"seed --keep {','.join(unknown)}: keep levels from the top ({', '.join(LEVELS)}) "
            f"and {' or '.join(KEEPABLE_POINTS)}; teams and incidents are generated (import "
            "yours after seeding)"
        )
    if levels != list(LEVELS[: len(levels)]):
        raise InvalidInput(
            f"seed --keep {','.join(levels)}: levels are kept from the top down, e.g. "
            "towns or towns,villages (a level is generated inside the one above it)"
        )
    return levels, points


def _json(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def read_levels(conn: psycopg.Connection, levels: list[str]) -> dict[str, KeptLevel]:
    # The statements here are assembled, not files: from the levels ``check`` accepted and
    # their columns, each quoted as an identifier.
    kept: dict[str, KeptLevel] = {}
    for i, level in enumerate(levels):
        extra = _EXTRA.get(level, ())
        cols = ["code", "name", *extra, "derived", "import_id", "attributes"]
        parent = sql.SQL("p.code") if level != "towns" else sql.SQL("NULL::text")
        join = (
            sql.SQL("JOIN {} p ON p.id = t.{}").format(
                sql.Identifier("citybrain", LEVELS[i - 1]), sql.Identifier(PARENT_COL[level])
            )
            if level != "towns"
            else sql.SQL("")
        )
        rows = conn.execute(
            sql.SQL(
                "SELECT {}, {} AS parent, ST_AsBinary(t.geom) FROM {} t {} ORDER BY t.code"
            ).format(
                sql.SQL(", ").join(sql.Identifier("t", c) for c in cols),
                parent,
                sql.Identifier("citybrain", level),
                join,
            )
        ).fetchall()
        if not rows:
            raise InvalidInput(f"seed --keep {level}: there are no {level} to keep")
        frame = pd.DataFrame([r[:-1] for r in rows], columns=[*cols, "parent"])
        frame["attributes"] = frame["attributes"].map(_json)
        frame["import_id"] = frame["import_id"].astype("Int64")
        wgs = np.array(shapely.from_wkb([bytes(r[-1]) for r in rows]), dtype=object)
        kept[level] = KeptLevel(frame, LOCAL.to_metres(wgs), wgs)
    return kept


def read_points(conn: psycopg.Connection, layer: str) -> pd.DataFrame:
    """A point layer's rows as ``load_points`` takes them (lon/lat, no keys or cells)."""
    cols = [*_POINT_COLUMNS[layer], "import_id", "attributes"]
    rows = conn.execute(
        sql.SQL("SELECT {}, ST_X(geom), ST_Y(geom) FROM {} ORDER BY id").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.Identifier("citybrain", layer)
        )
    ).fetchall()
    frame = pd.DataFrame(rows, columns=[*cols, "lon", "lat"])
    frame["attributes"] = frame["attributes"].map(_json)
    frame["import_id"] = frame["import_id"].astype("Int64")
    if "capacity" in frame:
        frame["capacity"] = frame["capacity"].astype("Int64")
    return frame
