"""A county office's roster (花名册) into accounts: ``citybrain import users FILE``.

The file is read as every import's (``importer.sources``: CSV in UTF-8 or GBK without being
told, XLSX; its format judged by its bytes), with the headers offices use: 姓名 (name), 手机号
(phone), 登录名 (login; default: the phone), 角色 (role: 网格员, 调度员, 部门人员, 领导, 管理员, or
the English), 所属区域代码 (an area's code: the county, a town, a village, a grid), for
members 所属网格 (their grid's code: their team is that grid's) or 团队编码 (their team's code),
and for handlers 所属部门 (their department's code: ``citybrain import departments``).

Every row is checked before anything is written (a missing name, an unknown role or area code,
a phone or login given twice, a member without a team...); a rejected row stops the import and
nothing is written, with a report naming the row, the field, the reason and the value. Rows
are matched by login: a known login is updated (name, phone, role, area, team; never its
password), a new one made with a one-time password, which goes only to the file the admin
names (0600), never to the database in plain or to a log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import psycopg

from citybrain.domain import PERSON_ROLES, Role
from citybrain.errors import InvalidInput
from citybrain.importer.report import Report
from citybrain.importer.sources import read_source
from citybrain.people import passwords
from citybrain.people.accounts import load
from citybrain.people.caller import Area

HEADERS = {
    "name": ("姓名", "name", "名字"),
    "phone": ("手机号", "手机号码", "电话", "联系电话", "phone"),
    "login": ("登录名", "账号", "用户名", "login"),
    "role": ("角色", "岗位", "role"),
    "area": ("所属区域代码", "区域代码", "所属区域", "area"),
    "grid": ("所属网格", "网格编码", "grid"),
    "team": ("团队编码", "所属团队", "team"),
    "department": ("所属部门", "部门编码", "department"),
}
ROLE_WORDS = {
    "网格员": Role.member,
    "专职网格员": Role.member,
    "调度员": Role.dispatcher,
    "指挥中心": Role.dispatcher,
    "部门人员": Role.handler,
    "处置人员": Role.handler,
    "领导": Role.leader,
    "管理员": Role.admin,
    **{str(r): r for r in PERSON_ROLES},
}


@dataclass
class Person:
    row: int
    login: str
    name: str
    phone: str | None
    role: str
    area: Area
    team_id: int | None
    department_id: int | None = None


def header_columns(
    frame: pd.DataFrame, headers: dict[str, tuple[str, ...]], required=(), what: str = ""
) -> dict[str, str]:
    """Our field → the file's header, the first alias found (case and blanks aside); a file
    without a ``required`` field's column is refused, naming its headers."""
    found = {str(c).strip().lower(): c for c in frame.columns}
    out = {}
    for target, aliases in headers.items():
        for alias in aliases:
            if alias.lower() in found:
                out[target] = found[alias.lower()]
                break
    missing = [headers[t][0] for t in required if t not in out]
    if missing:
        raise InvalidInput(f"{what} needs the columns {', '.join(missing)}")
    return out


def _columns(frame: pd.DataFrame) -> dict[str, str]:
    out = header_columns(frame, HEADERS)
    missing = [t for t in ("name", "role") if t not in out]
    if missing or ("phone" not in out and "login" not in out):
        raise InvalidInput(
            "a roster needs the columns 姓名, 角色 and 手机号 or 登录名 (and 所属区域代码 or "
            f"所属网格); missing: {', '.join(missing) or '手机号/登录名'}"
        )
    return out


def text_cell(value) -> str | None:
    """A spreadsheet's cell as text (None when empty)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # (a phone a spreadsheet took for a number)
        text = text[:-2]
    return text or None


def _team_of_grid(conn: psycopg.Connection, grid_code: str) -> int | None:
    row = conn.execute(load("team_of_grid"), {"code": grid_code}).fetchone()
    return row[0] if row else None


def _team_by_code(conn: psycopg.Connection, code: str) -> int | None:
    row = conn.execute(load("team_by_code"), {"code": code}).fetchone()
    return row[0] if row else None


def check(conn: psycopg.Connection, frame: pd.DataFrame, rows, report: Report) -> list[Person]:
    """Every row checked; the people of the rows that pass (the report holds the others)."""
    cols = _columns(frame)
    people: list[Person] = []
    seen_login: dict[str, int] = {}
    seen_phone: dict[str, int] = {}
    for i, number in enumerate(rows):
        values = {k: text_cell(frame[c].iat[i]) for k, c in cols.items()}
        person = _one(conn, int(number), values, cols, report)
        if person is None:
            continue
        for key, seen, field in (
            (person.login, seen_login, "login"),
            (person.phone, seen_phone, "phone"),
        ):
            if key is None:
                continue
            if key in seen:
                report.reject(
                    person.row,
                    cols.get(field, field),
                    f"given twice: rows {seen[key]} and {person.row}",
                    key,
                )
                person = None
                break
            seen[key] = person.row
        if person is not None:
            people.append(person)
    return people


def _one(conn, row: int, values: dict, cols: dict, report: Report) -> Person | None:
    def bad(field: str, reason: str, value=None) -> None:
        report.reject(row, cols.get(field, field), reason, value)

    name, phone = values.get("name"), values.get("phone")
    login = values.get("login") or phone
    role = ROLE_WORDS.get(values.get("role") or "")
    if not name:
        return bad("name", "a name is required")
    if not login:
        return bad("login", "a login or a phone number is required")
    if phone and not (phone.lstrip("+").replace("-", "").isdigit() and 5 <= len(phone) <= 20):
        return bad("phone", "not a phone number", phone)
    if role is None:
        return bad(
            "role", "not a role: 网格员, 调度员, 部门人员, 领导 or 管理员", values.get("role")
        )
    team_id = None
    if role == Role.member:
        grid, team = values.get("grid"), values.get("team")
        team_id = _team_by_code(conn, team) if team else _team_of_grid(conn, grid) if grid else None
        if team_id is None:
            field, value = ("team", team) if team else ("grid", grid)
            return bad(field, "a member needs its grid's (or team's) code: none found", value)
    department_id = None
    if values.get("department"):
        if role != Role.handler:
            return bad(
                "department",
                "only a handler (部门人员) belongs to a department",
                values.get("department"),
            )
        found = conn.execute(load("department_by_code"), {"code": values["department"]}).fetchone()
        if found is None:
            return bad(
                "department",
                "no such department (citybrain import departments)",
                values["department"],
            )
        department_id = found[0]
    try:
        from citybrain.people.accounts import NewAccount
        from citybrain.people.accounts import check as check_account

        area = check_account(
            conn, NewAccount(login, name, str(role), values.get("area"), team_id, phone)
        )
    except InvalidInput as exc:
        return bad("area", str(exc.detail), values.get("area"))
    return Person(row, login, name, phone, str(role), area, team_id, department_id)


def import_roster(
    conn: psycopg.Connection,
    path: Path,
    now: datetime,
    passwords_file: Path | None = None,
    dry_run: bool = False,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Report:
    """Check the roster and, unless a row is rejected or ``dry_run``, write it in one
    transaction; new accounts' one-time passwords go to ``passwords_file`` only."""
    source = read_source(path, encoding, sheet)
    report = Report("users", source.name, dry_run, rows=len(source))
    people = check(conn, source.frame, source.rows, report)
    existing = {r[0] for r in conn.execute(load("logins"), {"logins": [p.login for p in people]})}
    taken = conn.execute(
        load("phones_taken"),
        {"phones": [p.phone for p in people if p.phone], "logins": [p.login for p in people]},
    ).fetchall()
    for phone, owner in taken:
        person = next(p for p in people if p.phone == phone)
        report.reject(person.row, "手机号", f"the phone of another account ({owner})", phone)
    report.inserted = sum(p.login not in existing for p in people)
    report.updated = len(people) - report.inserted
    if not report.ok or dry_run:
        return report
    if passwords_file is None and report.inserted:
        raise InvalidInput(
            "new accounts get one-time passwords: name a file for them (--passwords)"
        )
    made = _write(conn, people, existing, now)
    if made:
        _write_passwords(passwords_file, made)
    report.written = True
    return report


def _write(conn, people: list[Person], existing: set[str], now: datetime) -> dict[str, str]:
    made: dict[str, str] = {}
    with conn.transaction():
        for p in people:
            fields = {
                "login": p.login,
                "name": p.name,
                "phone": p.phone,
                "role": p.role,
                "area_code": p.area.code,
                "area_level": p.area.level,
                "town_id": p.area.town_id,
                "village_id": p.area.village_id,
                "grid_id": p.area.grid_id,
                "team_id": p.team_id,
                "department_id": p.department_id,
                "now": now,
            }
            if p.login in existing:
                conn.execute(load("update_user"), fields)
                continue
            made[p.login] = passwords.initial_password()
            conn.execute(
                load("create_user"),
                {**fields, "password_hash": passwords.hash_password(made[p.login])},
            )
    return made


def _write_passwords(path: Path, made: dict[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("login,one-time password\n")
        for login, password in made.items():
            out.write(f"{login},{password}\n")
    os.chmod(path, 0o600)
