"""A county's list of departments (部门) into ``citybrain.departments`` through
``citybrain import departments``, and their staff through the roster's 所属部门: a GBK CSV without
being told and an XLSX with Chinese headers; bad rows reported with their row, field and
reason, and nothing written; a known code updated, not doubled. The seeded county's
departments follow the seed's structure; ``GET /departments`` lists them by town and
category as SQL over the table does."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest

from citybrain.db.connection import libpq_conninfo
from citybrain.domain import CATEGORIES_BY_NAME, COUNTY_DEPARTMENTS, TOWN_PLATFORMS, TOWNS
from tests.utils.cli import citybrain
from tests.utils.databases import snapshot


def _list() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "部门编码": ["330421001-sq", "330421102-sq", "330421-zjj", "330421-gaj"],
            "部门名称": [
                "魏塘街道社区服务平台",
                "大云镇社区服务平台",
                "县住房和城乡建设局",
                "县公安局（改）",
            ],
            "类型": ["乡镇平台", "四个平台", "县级部门", "county"],
            "所属乡镇": ["魏塘街道", "330421102", "", ""],
            "处置类别": ["民生诉求、出租房屋", "民生诉求", "城市管理,出租房屋", "治安；交通"],
            "联系电话": ["0573-84000001", "", "0573-84000003", ""],
        }
    )


def _departments(url: str) -> dict[str, tuple]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return {
            code: rest
            for code, *rest in conn.execute(
                "SELECT d.code, d.name, d.kind, t.code, d.categories, d.phone "
                "FROM citybrain.departments d LEFT JOIN citybrain.towns t ON t.id = d.town_id"
            )
        }


def test_a_gbk_list_adds_and_updates_departments(fresh_county, tmp_path) -> None:
    before = _departments(fresh_county)
    path = tmp_path / "部门名录.csv"
    path.write_bytes(_list().to_csv(index=False).encode("gbk"))  # (no BOM, not declared)
    done = citybrain(fresh_county, "import", "departments", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    after = _departments(fresh_county)
    assert set(after) - set(before) == {"330421001-sq", "330421102-sq", "330421-zjj"}
    assert after["330421001-sq"] == [
        "魏塘街道社区服务平台",
        "platform",
        "330421001",
        ["民生诉求", "出租房屋"],
        "0573-84000001",
    ]
    assert after["330421102-sq"][1:4] == ["platform", "330421102", ["民生诉求"]]
    assert after["330421-zjj"][1:4] == ["county", None, ["城市管理", "出租房屋"]]
    # A known code is updated in place: the seed's county police, renamed, same id.
    assert after["330421-gaj"][:4] == ["县公安局（改）", "county", None, ["治安", "交通"]]
    assert len(after) == len(before) + 3
    again = citybrain(fresh_county, "import", "departments", str(path))
    assert again.returncode == 0 and _departments(fresh_county) == after


def test_bad_rows_are_reported_and_nothing_is_written(fresh_county, tmp_path) -> None:
    rows = _list()
    rows.loc[1, "部门编码"] = rows.loc[0, "部门编码"]  # row 3: a code given twice
    rows.loc[2, "所属乡镇"] = "魏塘街道"  # row 4: a county department with a town
    rows.loc[3, "处置类别"] = "治安、打麻将"  # row 5: no such category
    extra = pd.DataFrame(
        [
            {
                "部门编码": "x-1",
                "部门名称": "某平台",
                "类型": "乡镇平台",
                "所属乡镇": "",
                "处置类别": "治安",
            },
            {
                "部门编码": "x-2",
                "部门名称": "某部门",
                "类型": "委员会",
                "所属乡镇": "",
                "处置类别": "治安",
            },
            {
                "部门编码": "x 3",
                "部门名称": "某平台",
                "类型": "平台",
                "所属乡镇": "火星镇",
                "处置类别": "治安",
            },
        ]
    )
    path = tmp_path / "departments.xlsx"
    pd.concat([rows, extra], ignore_index=True).to_excel(path, index=False)
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn, sequences=False)
    out = citybrain(fresh_county, "import", "departments", str(path))
    assert out.returncode == 1
    said = " ".join((out.stdout + out.stderr).split())
    assert "NOT written" in said
    assert "given twice: rows 2 and 3" in said
    assert "a county department has no town" in said
    assert "打麻将" in said
    assert "needs its town" in said  # row 6
    assert "not a kind" in said and "委员会" in said  # row 7
    assert "x 3" in said  # row 8: not a code
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn, sequences=False) == before


def test_a_handlers_department_comes_from_the_roster(fresh_county, tmp_path) -> None:
    roster = pd.DataFrame(
        {
            "姓名": ["孙处置", "周调度"],
            "手机号": ["13600000001", "13600000002"],
            "角色": ["部门人员", "调度员"],
            "所属区域代码": ["330421001", "330421001"],
            "所属网格": ["", ""],
            "所属部门": ["330421001-zz", "330421001-zz"],
        }
    )
    path = tmp_path / "roster.csv"
    roster.to_csv(path, index=False)
    out = citybrain(fresh_county, "import", "users", str(path), "--passwords", str(tmp_path / "p"))
    said = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 1 and "only a handler" in said
    roster = roster.iloc[:1]
    roster.to_csv(path, index=False)
    out = citybrain(fresh_county, "import", "users", str(path), "--passwords", str(tmp_path / "p"))
    assert out.returncode == 0, out.stdout + out.stderr
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        got = conn.execute(
            "SELECT d.code FROM citybrain.users u JOIN citybrain.departments d "
            "ON d.id = u.department_id WHERE u.login = '13600000001'"
        ).fetchone()
    assert got == ("330421001-zz",)


def test_the_seeded_departments(seeded) -> None:
    got = _departments(seeded)
    assert len(got) == len(TOWNS) * len(TOWN_PLATFORMS) + len(COUNTY_DEPARTMENTS)
    for town in TOWNS:
        for plan in TOWN_PLATFORMS:
            name, kind, town_code, categories, _ = got[f"{town.code}-{plan.code}"]
            assert (kind, town_code, tuple(categories)) == ("platform", town.code, plan.categories)
            assert name == town.name + plan.name
    # Every category has a platform in every town and a county department.
    handled = {c for p in TOWN_PLATFORMS for c in p.categories}
    assert (
        handled == {c for p in COUNTY_DEPARTMENTS for c in p.categories} == set(CATEGORIES_BY_NAME)
    )


@pytest.mark.parametrize(
    "town,category", [(None, None), ("330421103", None), (None, "治安"), ("330421111", "食品安全")]
)
def test_departments_listed_by_town_and_category(seeded, client, town, category) -> None:
    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        town_id = (
            conn.execute("SELECT id FROM citybrain.towns WHERE code = %s", [town]).fetchone()[0]
            if town
            else None
        )
        rows = conn.execute(
            "SELECT d.id, d.town_id, d.categories, (SELECT count(*) FROM citybrain.incidents i "
            "WHERE i.department_id = d.id AND i.status IN ('dispatched', 'on_site')) "
            "FROM citybrain.departments d"
        ).fetchall()
    expected = {
        i: active
        for i, town_of, categories, active in rows
        if (town_id is None or town_of in (None, town_id))
        and (category is None or category in categories)
    }
    params = {k: v for k, v in (("town_id", town_id), ("category", category)) if v}
    r = client.get("/departments", params=params)
    assert r.status_code == 200
    assert {d["id"]: d["active"] for d in r.json()} == expected


def test_an_unknown_category_is_refused(client) -> None:
    r = client.get("/departments", params={"category": "打麻将"})
    assert r.status_code == 400 and "unknown category" in r.json()["detail"]
