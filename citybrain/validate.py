"""``citybrain validate``: does every level of the hierarchy tile its parent, and does every
point lie in its micro-grid? Lists each violation with the codes and the area involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from citybrain.db.models import POINT_TABLES
from citybrain.domain import HIERARCHY
from citybrain.sql import compose

# Overlay arithmetic leaves slivers of square millimetres where edges meet; a real gap or
# overlap is larger than this.
AREA_TOLERANCE_M2 = 1.0


@dataclass(frozen=True)
class Violation:
    level: str
    kind: str  # invalid, outside_parent, gap, overlap, point
    codes: tuple[str, ...]
    area_m2: float | None
    detail: str


def _table(name: str) -> str:
    return f"citybrain.{name}"


def find_violations(
    conn: psycopg.Connection, tolerance_m2: float = AREA_TOLERANCE_M2
) -> list[Violation]:
    """Every violation in the database that ``conn`` is connected to (in its transaction)."""
    out: list[Violation] = []

    def run(kind: str, level: str, stmt) -> None:
        for codes, area, detail in conn.execute(stmt):
            if area > tolerance_m2:
                out.append(Violation(level, kind, tuple(codes), area, detail))

    for (level, _), (child, fk) in zip(HIERARCHY, HIERARCHY[1:], strict=False):
        run("invalid", level, compose("validate/invalid", level=_table(level)))
        run("overlap", level, compose("validate/overlaps", level=_table(level)))
        run(
            "gap", level, compose("validate/gaps", parent=_table(level), child=_table(child), fk=fk)
        )
        run(
            "outside_parent",
            child,
            compose("validate/outside_parent", child=_table(child), parent=_table(level), fk=fk),
        )
    leaf = HIERARCHY[-1][0]
    run("invalid", leaf, compose("validate/invalid", level=_table(leaf)))
    run("overlap", leaf, compose("validate/overlaps", level=_table(leaf)))
    for table in POINT_TABLES:
        for problem, count, sample in conn.execute(
            compose("validate/points", points=_table(table))
        ):
            more = f" (first {len(sample)} listed)" if count > len(sample) else ""
            out.append(
                Violation(
                    table,
                    "point",
                    tuple(f"{table}#{i}" for i in sample),
                    None,
                    f"{count} {problem}{more}",
                )
            )
    return out
