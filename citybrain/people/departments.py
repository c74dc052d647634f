"""A county's list of departments (部门) into ``citybrain.departments``:
``citybrain import departments FILE``.

Read as every import's file (``importer.sources``: CSV in UTF-8 or GBK without being told,
XLSX), with the headers offices use: 部门编码 (code), 部门名称 (name), 类型 (乡镇平台 / 四个平台 /
平台 for a town's platform, 县级部门 / 部门 for a county department, or the English ``platform``,
``county``), 所属乡镇 (a platform's town: its name or code), 处置类别 (the categories it
handles, separated by 、 , ; / or blanks) and 联系电话 (optional).

Every row is checked before anything is written (a missing code or name, an unknown kind, town
or category, a platform without its town, a code given twice); a rejected row stops the import
and nothing is written, with a report naming the row, the field, the reason and the value.
Rows are matched by code: a known department is updated, a new one added, in one transaction.
Staff are accounts of role handler with the department's code in the roster's 所属部门
(``people.roster``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg

from citybrain.domain import CATEGORIES_BY_NAME, TOWNS_BY_NAME, DepartmentKind
from citybrain.importer.report import Report
from citybrain.importer.sources import read_source
from citybrain.people.roster import header_columns, text_cell
from citybrain.sql import load

HEADERS = {
    "code": ("部门编码", "编码", "code"),
    "name": ("部门名称", "名称", "name"),
    "kind": ("类型", "部门类型", "kind"),
    "town": ("所属乡镇", "乡镇", "所属镇街", "town"),
    "categories": ("处置类别", "事件类别", "类别", "categories"),
    "phone": ("联系电话", "电话", "phone"),
}
REQUIRED = ("code", "name", "kind", "categories")
KIND_WORDS = {
    "乡镇平台": DepartmentKind.platform,
    "四个平台": DepartmentKind.platform,
    "平台": DepartmentKind.platform,
    "县级部门": DepartmentKind.county,
    "部门": DepartmentKind.county,
    **{str(k): k for k in DepartmentKind},
}
_SPLIT = re.compile(r"[、,，;；/\s]+")
_CODE = re.compile(r"^[0-9A-Za-z_.-]{1,40}$")


@dataclass
class Department:
    row: int
    code: str
    name: str
    kind: str
    town_id: int | None
    categories: list[str]
    phone: str | None


def check(conn: psycopg.Connection, frame: pd.DataFrame, rows, report: Report) -> list[Department]:
    """Every row checked; the departments of the rows that pass (the report holds the rest)."""
    cols = header_columns(frame, HEADERS, REQUIRED, "a list of departments")
    towns = {code: (i, name) for i, code, name in conn.execute(load("departments/towns"))}
    by_name = {name: i for i, name in towns.values()}
    out: list[Department] = []
    seen: dict[str, int] = {}
    for i, number in enumerate(rows):
        values = {k: text_cell(frame[c].iat[i]) for k, c in cols.items()}
        dept = _one(int(number), values, cols, towns, by_name, report)
        if dept is None:
            continue
        if dept.code in seen:
            report.reject(
                dept.row,
                cols["code"],
                f"given twice: rows {seen[dept.code]} and {dept.row}",
                dept.code,
            )
            continue
        seen[dept.code] = dept.row
        out.append(dept)
    return out


def _one(row, values, cols, towns, by_name, report: Report) -> Department | None:
    def bad(field: str, reason: str, value=None) -> None:
        report.reject(row, cols.get(field, field), reason, value)

    code, name = values.get("code"), values.get("name")
    if not code or not _CODE.match(code):
        return bad("code", "a code of letters, digits, '.', '_' or '-' (at most 40)", code)
    if not name or len(name) > 100:
        return bad("name", "a name of 1 to 100 characters is required", name)
    kind = KIND_WORDS.get(values.get("kind") or "")
    if kind is None:
        return bad("kind", "not a kind: 乡镇平台 or 县级部门", values.get("kind"))
    town_id = None
    town = values.get("town")
    if kind == DepartmentKind.platform:
        if not town:
            return bad("town", "a town's platform needs its town (所属乡镇)")
        known = towns.get(town)
        town_id = known[0] if known else by_name.get(town)
        if town_id is None and town in TOWNS_BY_NAME:  # (a county's own town names differ)
            town_id = towns.get(TOWNS_BY_NAME[town].code, (None,))[0]
        if town_id is None:
            return bad("town", "no such town in the county (its name or code)", town)
    elif town:
        return bad("town", "a county department has no town", town)
    categories = [c for c in _SPLIT.split(values.get("categories") or "") if c]
    unknown = [c for c in categories if c not in CATEGORIES_BY_NAME]
    if not categories or unknown:
        return bad(
            "categories",
            f"categories among: {'、'.join(CATEGORIES_BY_NAME)}",
            values.get("categories"),
        )
    phone = values.get("phone")
    return Department(row, code, name, str(kind), town_id, list(dict.fromkeys(categories)), phone)


def import_departments(
    conn: psycopg.Connection,
    path: Path,
    dry_run: bool = False,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Report:
    """Check the list and, unless a row is rejected or ``dry_run``, write it in one
    transaction (matched by code)."""
    source = read_source(path, encoding, sheet)
    report = Report("departments", source.name, dry_run, rows=len(source))
    found = check(conn, source.frame, source.rows, report)
    existing = {
        r[0] for r in conn.execute(load("departments/codes"), {"codes": [d.code for d in found]})
    }
    report.inserted = sum(d.code not in existing for d in found)
    report.updated = len(found) - report.inserted
    if not report.ok or dry_run:
        return report
    with conn.transaction():
        for d in found:
            conn.execute(
                load("departments/upsert"),
                {
                    "code": d.code,
                    "name": d.name,
                    "kind": d.kind,
                    "town_id": d.town_id,
                    "categories": d.categories,
                    "phone": d.phone,
                },
            )
    report.written = True
    return report
