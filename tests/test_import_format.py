"""The recipe for a new import format (docs/architecture.md): one registered ``Format`` in a
module that ``CITYBRAIN_IMPORT_MODULES`` names, and `citybrain import` reads it, with the
layers' own headers and checks; without the module the same file is refused."""

from __future__ import annotations

import json

import psycopg

from citybrain.db.connection import libpq_conninfo
from tests.utils.cli import citybrain
from tests.utils.offices import points_on

MODULE = {"CITYBRAIN_IMPORT_MODULES": "tests.utils.jsonl_format"}


def test_a_registered_format_imports_like_any_other(fresh_county, tmp_path) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        at = points_on(conn, "grids", 3)
    rows = [
        {
            "点位编号": f"JL-{i}",
            "点位名称": f"新点位{i}",
            "设备类型": "球机",
            "经度": lon,
            "纬度": lat,
        }
        for i, (lon, lat) in enumerate(zip(at["lon"], at["lat"], strict=True))
    ]
    path = tmp_path / "cameras.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")

    refused = citybrain(fresh_county, "import", "cameras", str(path))
    assert refused.returncode == 2 and ".jsonl is not a format citybrain imports" in (
        " ".join((refused.stdout + refused.stderr).split())
    )
    done = citybrain(fresh_county, "import", "cameras", str(path), env=MODULE)
    assert done.returncode == 0, done.stdout + done.stderr
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        got = conn.execute(
            "SELECT code, name, kind, ST_X(geom), ST_Y(geom) FROM citybrain.cameras "
            "WHERE code LIKE 'JL-%%' ORDER BY code"
        ).fetchall()
    assert [(c, n, k) for c, n, k, _, _ in got] == [
        (r["点位编号"], r["点位名称"], "dome") for r in rows
    ]
    for (_, _, _, x, y), r in zip(got, rows, strict=True):
        assert abs(x - r["经度"]) < 1e-9 and abs(y - r["纬度"]) < 1e-9

    # Its bytes must be what its name says, as for every format.
    fake = tmp_path / "fake.jsonl"
    fake.write_text("code,name\nA,b\n")
    bad = citybrain(fresh_county, "import", "cameras", str(fake), env=MODULE)
    assert bad.returncode == 2 and "JSON Lines (.jsonl), but its bytes are not" in (
        " ".join((bad.stdout + bad.stderr).split())
    )
