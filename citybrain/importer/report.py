"""What an import found and did: one entry per rejected row (row, field, reason, value), per
repair (with the area it moved) and per note, and the counts per outcome."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Outcome = Literal["rejected", "repaired", "note"]


@dataclass(frozen=True)
class Entry:
    outcome: Outcome
    row: int | None  # the row in the source as its user sees it (CSV/XLSX: header = row 1)
    field: str
    reason: str
    value: str = ""
    key: str = ""  # the row's code / work-order number, where known
    area_m2: float | None = None


@dataclass
class Report:
    layer: str
    source: str
    dry_run: bool
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    written: bool = False
    import_id: int | None = None
    crs: str = ""
    encoding: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)

    def reject(self, row: int | None, field: str, reason: str, value="", key="") -> None:
        self.entries.append(Entry("rejected", row, field, reason, _text(value), _text(key)))

    def repaired(self, row: int | None, field: str, reason: str, area_m2: float, key="") -> None:
        self.entries.append(
            Entry("repaired", row, field, reason, "", _text(key), round(float(area_m2), 1))
        )

    def note(self, reason: str, row: int | None = None, field: str = "", value="", key="") -> None:
        self.entries.append(Entry("note", row, field, reason, _text(value), _text(key)))

    @property
    def rejected_rows(self) -> set[int | None]:
        return {e.row for e in self.entries if e.outcome == "rejected"}

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)

    @property
    def repaired_rows(self) -> int:
        return len({e.row for e in self.entries if e.outcome == "repaired"})

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "repaired": self.repaired_rows,
        }

    def as_dict(self, max_entries: int | None = None) -> dict:
        entries = self.sorted_entries()
        return {
            "layer": self.layer,
            "source": self.source,
            "dry_run": self.dry_run,
            "written": self.written,
            "import_id": self.import_id,
            "crs": self.crs,
            "encoding": self.encoding,
            "mapping": self.mapping,
            **self.counts(),
            "entries_total": len(entries),
            "entries": [asdict(e) for e in entries[:max_entries]],
        }

    def sorted_entries(self) -> list[Entry]:
        order = {"rejected": 0, "repaired": 1, "note": 2}
        return sorted(self.entries, key=lambda e: (order[e.outcome], e.row is not None, e.row or 0))

    def write_csv(self, path: Path) -> None:
        """The entries as CSV (UTF-8 with a byte-order mark, so that Excel shows Chinese)."""
        with path.open("w", newline="", encoding="utf-8-sig") as f:
            out = csv.writer(f)
            out.writerow(["outcome", "row", "key", "field", "reason", "value", "area_m2"])
            for e in self.sorted_entries():
                out.writerow(
                    [
                        e.outcome,
                        e.row or "",
                        _cell(e.key),
                        _cell(e.field),
                        e.reason,
                        _cell(e.value),
                        e.area_m2 or "",
                    ]
                )


def _cell(text: str) -> str:
    """A value from the source, made inert for a spreadsheet: a cell that begins with = + - @
    would be taken as a formula (a work order's text can begin with anything)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _text(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."
