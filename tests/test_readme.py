"""The README's snippets do what it says, run as printed (taken from the file, not copied)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import psycopg
import shapely

from citybrain.db.connection import libpq_conninfo
from citybrain.settings import Settings
from tests.utils.cli import citybrain

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(after_heading: str) -> str:
    """The first ```python block under the heading ``after_heading``."""
    text = README.read_text()
    section = text.split(f"\n## {after_heading}\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, f"no python block under '## {after_heading}'"
    return found.group(1)


def test_the_planners_snippet_reads_the_grids_as_printed(seeded: str) -> None:
    """`## The data`'s snippet, in a Python of its own with only the database's URL set (the
    setting the README names), reads every grid with its geometry."""
    snippet = _python_block("The data")
    probe = snippet + (
        "\nprint(len(grids), grids.crs.to_epsg(), round(float(grids.geometry.area.sum()), 9))\n"
    )
    env = {**os.environ, "CITYBRAIN_DATABASE_URL": seeded}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    count, epsg, area = out.stdout.split()
    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        rows = conn.execute("SELECT ST_AsBinary(geom) FROM citybrain.grids").fetchall()
    expected = shapely.from_wkb([bytes(r[0]) for r in rows])
    assert int(count) == len(rows) > 100
    assert epsg == "4326"
    assert abs(float(area) - float(shapely.area(expected).sum())) < 1e-9


def test_db_url_prints_a_url_that_connects(seeded: str) -> None:
    """`citybrain db url` gives what a planner pastes into create_engine (and, --libpq, into
    psql): with the password the embedded cluster asks for."""
    plain = citybrain(seeded, "db", "url")
    assert plain.returncode == 0, plain.stderr
    url = plain.stdout.strip()
    assert url == Settings(database_url=seeded).sqlalchemy_url
    frame = gpd.read_postgis(
        "SELECT id, geom FROM citybrain.towns ORDER BY id", _engine(url), geom_col="geom"
    )
    assert len(frame) == 9
    libpq = citybrain(seeded, "db", "url", "--libpq").stdout.strip()
    assert libpq.startswith("postgresql://") and libpq.split("://")[1] == url.split("://")[1]
    with psycopg.connect(libpq) as conn:
        assert conn.execute("SELECT count(*) FROM citybrain.towns").fetchone()[0] == 9


def test_db_url_of_the_embedded_cluster_carries_its_password() -> None:
    """Without CITYBRAIN_DATABASE_URL, the URL is the embedded cluster's, with the password
    `db up` keeps in its 0600 file (the bare URL the README once printed was refused)."""
    settings = Settings()
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "citybrain.cli", "db", "url", "--libpq"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    if settings.embedded:
        password = settings.superuser_password_file.read_text().strip()
        assert f":{password}@127.0.0.1:{settings.pg_port}/citybrain" in out.stdout
    else:  # (a run pointed at a server of its own, as under docker compose: that server's URL)
        assert out.stdout.strip().split("://")[1] == settings.sqlalchemy_url.split("://")[1]
    with psycopg.connect(out.stdout.strip()) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def _engine(url: str):
    from sqlalchemy import create_engine

    return create_engine(url)
