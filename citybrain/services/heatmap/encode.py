"""How heatmap answers are written: H3 ids as hex strings, an answer's cells as one JSON byte
table (``CellTable``, ``cells_json``) and answers as GeoJSON hexagons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h3
import numpy as np
import orjson

_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)


def _hex_bytes(cells: np.ndarray) -> np.ndarray:
    """(n, 15) ASCII hex digits of H3 cells (an H3 index's top hex digit is always 0): each
    octet looked up as its two digits at once."""
    octets = cells.astype(">u8").view(np.uint8)
    return _HEX_PAIRS[octets].view(np.uint8).reshape(-1, 16)[:, 1:]


def hexes(cells: np.ndarray) -> list[str]:
    """H3 cells as lowercase hex strings (what ``format(c, "x")`` gives), all at once."""
    text = _hex_bytes(cells).tobytes().decode("ascii")
    return [text[i : i + 15] for i in range(0, len(text), 15)]


def _digits(values: np.ndarray) -> np.ndarray:
    """(n, w) ASCII decimal integers, right-aligned, a '-' before negatives, 0 bytes padding."""
    v = values.astype(np.int64)
    rest = np.abs(v)
    width = len(str(int(rest.max()))) if len(v) else 1
    out = np.zeros((len(v), width + 1), dtype=np.uint8)
    for column in range(width, 0, -1):  # last digit first; divisions by a scalar are quick
        rest, digit = np.divmod(rest, 10)
        out[:, column] = digit + ord("0")
        if column < width:  # a leading zero is padding (the last digit always stays)
            out[:, column] *= (rest > 0) | (digit > 0)
    out[:, 0] = np.where(v < 0, ord("-"), 0)
    return out


def cells_json(cells: np.ndarray, **columns: np.ndarray) -> bytes:
    """``[{"h3": "<hex>", "<column>": <int>, ...}, ...]`` as compact JSON, built as one byte
    table (fixed-width rows, padding dropped at the end) instead of an object per cell: a
    year at resolution 11 is 150,000 cells."""
    n = len(cells)
    if not n:
        return b"[]"

    def text(s: bytes) -> np.ndarray:
        return np.broadcast_to(np.frombuffer(s, dtype=np.uint8), (n, len(s)))

    parts = [text(b'{"h3":"'), _hex_bytes(cells), text(b'"')]
    for name, values in columns.items():
        parts += [text(b',"' + name.encode() + b'":'), _digits(values)]
    parts.append(text(b"},"))
    flat = np.concatenate(parts, axis=1).ravel()
    return b"[" + flat[flat != 0].tobytes()[:-1] + b"]"


@dataclass
class CellTable:
    """An answer's cells: H3 ids and a column per field (``value`` first), kept as arrays so
    that JSON of 150,000 cells is one byte table (``cells_json``), not 150,000 objects."""

    cells: np.ndarray
    columns: dict[str, np.ndarray | list]

    def records(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        values = [c.tolist() if isinstance(c, np.ndarray) else c for c in self.columns.values()]
        return [
            {"h3": h, **dict(zip(names, row, strict=True))}
            for h, *row in zip(hexes(self.cells), *values, strict=True)
        ]

    def json(self) -> orjson.Fragment:
        ints = {
            k: c
            for k, c in self.columns.items()
            if isinstance(c, np.ndarray) and c.dtype.kind == "i"
        }
        if len(ints) == len(self.columns):
            return orjson.Fragment(cells_json(self.cells, **ints))
        return orjson.Fragment(orjson.dumps(self.records()))

    def __len__(self) -> int:
        return len(self.cells)


def geojson(answer: dict[str, Any]) -> dict[str, Any]:
    """A heatmap or hotspots answer as a GeoJSON FeatureCollection of its hexagons (seconds
    for a county at res 11: build it off the event loop)."""
    features = []
    for cell in answer["cells"]:
        ring = [[lon, lat] for lat, lon in h3.cell_to_boundary(cell["h3"])]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "id": cell["h3"],
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": cell,
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        **{k: v for k, v in answer.items() if k != "cells"},
    }
