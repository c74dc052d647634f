"""docker-compose.yml read as Docker would read it (no Docker engine here): every database
service is built from an image that carries each extension citybrain needs, and the app finds
what the routes call in that database."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import yaml

from citybrain.db.cluster import EXTENSIONS
from citybrain.db.connection import libpq_conninfo

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
POSTGRES_IMAGE = re.compile(r"^FROM postgis/postgis:(\d+)-[\d.]+\s*$", re.M)


def _database_services() -> dict[str, dict]:
    """The services that run PostgreSQL: their command or entrypoint starts `postgres`."""
    found = {}
    for name, service in COMPOSE["services"].items():
        command = " ".join(map(str, service.get("command") or []))
        if command.startswith("postgres"):
            found[name] = service
    return found


def _installed_packages(dockerfile: str) -> set[str]:
    runs = " ".join(re.findall(r"^RUN (.*?)(?:\n(?!\s)|\Z)", dockerfile, re.M | re.S))
    return set(re.findall(r"postgresql-\d+-[a-z0-9-]+", runs))


def test_every_database_image_carries_every_extension() -> None:
    services = _database_services()
    assert set(services) == {"db", "primary", "replica"}
    for name, service in services.items():
        build = service.get("build")
        assert build, f"{name}: a stock image lacks pgRouting; build deploy/db.Dockerfile"
        dockerfile = (ROOT / build["context"] / build["dockerfile"]).read_text()
        base = POSTGRES_IMAGE.search(dockerfile)
        assert base, f"{name}: {build['dockerfile']} does not start from postgis/postgis"
        major = base.group(1)
        installed = _installed_packages(dockerfile)
        for extension, package in EXTENSIONS.items():
            if extension == "postgis":
                continue  # (the base image's own)
            assert package.format(major=major) in installed, (name, extension)


def test_the_extensions_are_what_the_routes_call(seeded: str) -> None:
    """The list the images are checked against is complete: every extension of the migrated
    test database is in it, and pgr_dijkstra (the road route's SQL) resolves."""
    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        names = conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")
        present = {r[0] for r in names}
        assert present == set(EXTENSIONS)
        routed = conn.execute("SELECT to_regprocedure('pgr_dijkstra(text,bigint,bigint,boolean)')")
        assert routed.fetchone()[0] is not None
    route_sql = (ROOT / "citybrain" / "sql" / "dispatch" / "route.sql").read_text()
    assert "pgr_dijkstra(" in route_sql
