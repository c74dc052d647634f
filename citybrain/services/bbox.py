"""The API's one bbox rule, for OGC items, heatmaps and hotspots alike (OGC API – Features'
``bbox``): ``minlon,minlat,maxlon,maxlat`` in CRS84, or six numbers with heights
(``minlon,minlat,minh,maxlon,maxlat,maxh``: the heights are ignored); finite numbers inside
CRS84's range, the lower corner first. A corner equal to the other (a point or a line) is a
box: it selects what it touches."""

from __future__ import annotations

import math
from collections.abc import Sequence

from citybrain.errors import InvalidInput

BBox = tuple[float, float, float, float]


def parse(text: str, name: str = "bbox") -> BBox:
    """The box of a query parameter; 400 saying what is wrong."""
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidInput(
            f"{name} {text!r}: numbers minlon,minlat,maxlon,maxlat (or six, with heights)"
        ) from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise InvalidInput(
            f"{name} {text!r}: four numbers minlon,minlat,maxlon,maxlat (or six, with heights), "
            f"not {len(numbers)}"
        )
    return check(numbers, name)


def check(box: Sequence[float], name: str = "bbox") -> BBox:
    """``box`` as a BBox if it keeps the rule; 400 saying what is wrong."""
    minx, miny, maxx, maxy = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInput(f"{name}: every number must be finite")
    if max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
        raise InvalidInput(f"{name} is outside CRS84's range (longitude ±180, latitude ±90)")
    if minx > maxx or miny > maxy:
        raise InvalidInput(f"{name}: the lower corner (minlon,minlat) comes first")
    return minx, miny, maxx, maxy
