"""A format of a deployment's own, for the recipe's test (docs/architecture.md, "Recipe: a new
import format"): JSON Lines, one object a row, registered when this module is imported
(``CITYBRAIN_IMPORT_MODULES=tests.utils.jsonl_format``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from citybrain.errors import InvalidInput
from citybrain.importer.formats import Format, register
from citybrain.importer.sources import SourceTable


def _sniff(head: bytes) -> bool:
    """The first line is a JSON object."""
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].strip()
    return first.startswith(b"{") and first.endswith(b"}")


def _read(path: Path, label: str) -> SourceTable:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(f"{label}: line {number} is not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise InvalidInput(f"{label}: line {number} is not a JSON object")
        rows.append({k: None if v is None else str(v) for k, v in row.items()})
    frame = pd.DataFrame(rows, dtype=object)
    return SourceTable(label, "", "jsonl", frame, np.arange(1, len(frame) + 1))


JSONL = register(Format("jsonl", "JSON Lines (.jsonl)", (".jsonl",), _sniff, _read))
