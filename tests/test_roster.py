"""A county office's roster (花名册) into accounts, through `citybrain import users`: a GBK CSV
without being told and an XLSX with Chinese headers; bad rows reported with their row, field and
reason, and nothing written; one-time passwords only in the admin's 0600 file, with which the
new accounts log in."""

from __future__ import annotations

import os

import pandas as pd
import psycopg

from citybrain.db.connection import libpq_conninfo
from tests.utils.cli import citybrain
from tests.utils.databases import snapshot
from tests.utils.server import LiveServer, server_settings


def _grids(url: str, n: int) -> list[tuple[str, int, str]]:
    """(grid code, its team's id, its town's code) of n grids that have a team."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return conn.execute(
            "SELECT g.code, tm.id, t.code FROM citybrain.grids g "
            "JOIN citybrain.teams tm ON tm.grid_id = g.id "
            "JOIN citybrain.villages v ON v.id = g.village_id "
            "JOIN citybrain.towns t ON t.id = v.town_id ORDER BY g.id LIMIT %s",
            [n],
        ).fetchall()


def _roster(url: str) -> pd.DataFrame:
    (g1, _, t1), (g2, _, _) = _grids(url, 2)
    return pd.DataFrame(
        {
            "姓名": ["王小明", "李华", "赵敏", "钱多多"],
            "手机号": ["13700000001", "13700000002", "13700000003", "13700000004"],
            "角色": ["网格员", "网格员", "调度员", "领导"],
            "所属区域代码": ["", "", t1, "330421"],
            "所属网格": [g1, g2, "", ""],
        }
    )


def _accounts(url: str) -> pd.DataFrame:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        cur = conn.execute(
            "SELECT login, name, phone, role, area_code, area_level, team_id "
            "FROM citybrain.users WHERE phone LIKE '137000000%%' ORDER BY login"
        )
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_a_gbk_roster_makes_accounts_that_log_in(fresh_county, tmp_path) -> None:
    roster = _roster(fresh_county)
    path = tmp_path / "网格员花名册.csv"
    path.write_bytes(roster.to_csv(index=False).encode("gbk"))  # (no BOM, not declared)
    secrets = tmp_path / "passwords.csv"
    done = citybrain(fresh_county, "import", "users", str(path), "--passwords", str(secrets))
    assert done.returncode == 0, done.stdout + done.stderr
    got = _accounts(fresh_county)
    grids = _grids(fresh_county, 2)
    assert got["login"].tolist() == roster["手机号"].tolist()  # (the phone, as no login given)
    assert got["name"].tolist() == roster["姓名"].tolist()
    assert got["role"].tolist() == ["member", "member", "dispatcher", "leader"]
    assert got["area_code"].tolist() == [grids[0][0], grids[1][0], grids[0][2], "330421"]
    assert got["team_id"].tolist()[:2] == [grids[0][1], grids[1][1]]
    assert oct(os.stat(secrets).st_mode & 0o777) == "0o600"
    made = dict(line.split(",") for line in secrets.read_text().splitlines()[1:])
    assert sorted(made) == sorted(roster["手机号"])
    assert not any(p in done.stdout + done.stderr for p in made.values())  # (not printed)
    with LiveServer(server_settings(fresh_county)) as live, live.client() as c:
        for login, password in made.items():
            r = c.post("/auth/login", json={"login": login, "password": password})
            assert r.status_code == 200 and r.json()["me"]["actor"] == login
            assert r.json()["me"]["must_change_password"] is True  # (set by the office)
    again = citybrain(fresh_county, "import", "users", str(path), "--passwords", str(secrets))
    assert again.returncode == 0 and "updated" in again.stderr
    assert _accounts(fresh_county).equals(got)  # a second import changes nothing


def test_bad_rows_are_reported_and_nothing_is_written(fresh_county, tmp_path) -> None:
    roster = _roster(fresh_county)
    roster.loc[1, "手机号"] = roster.loc[0, "手机号"]  # row 3: a phone given twice
    roster.loc[2, "所属区域代码"] = "330421999"  # row 4: no such area
    roster.loc[3, "角色"] = "村长"  # row 5: no such role
    path = tmp_path / "roster.xlsx"
    roster.to_excel(path, index=False)
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn, sequences=False)
    out = citybrain(
        fresh_county, "import", "users", str(path), "--passwords", str(tmp_path / "p.csv")
    )
    assert out.returncode == 1
    said = " ".join((out.stdout + out.stderr).split())
    assert "NOT written" in said
    assert "given twice: rows 2 and 3" in said and "13700000001" in said
    assert "330421999" in said and "not the county" in said
    assert "not a role" in said and "村长" in said
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn, sequences=False) == before
    assert not (tmp_path / "p.csv").exists()
