"""Least privilege in the database: the server's request connections act as
``citybrain_server`` (migration 0014), which owns nothing, may write only what requests write,
and may not change the schema or the audit trail; the audit trail is append-only for the owner
too, except that an incident's entries go with the incident."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from citybrain.api.deps import ConnDep
from citybrain.db.connection import libpq_conninfo
from citybrain.db.pools import session_options
from tests.utils.county import point_in
from tests.utils.server import LiveServer, server_settings

ROLE = "citybrain_server"


@pytest.fixture
def as_server(fresh_county: str) -> Iterator[psycopg.Connection]:
    """A connection such as the server's pool opens (the same options)."""
    options = session_options(server_settings(fresh_county))
    with psycopg.connect(libpq_conninfo(fresh_county, options=options), autocommit=True) as c:
        yield c


@pytest.fixture
def as_owner(fresh_county: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as c:
        yield c


async def _who(conn: ConnDep) -> dict:
    row = await (
        await conn.execute(
            "SELECT current_user, (SELECT count(*) FROM pg_class "
            " WHERE relowner = current_user::regrole), "
            "(SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
            " WHERE rolname = current_user)"
        )
    ).fetchone()
    return {"role": row[0], "owns": row[1], "powers": row[2]}


def test_the_servers_connections_act_as_a_role_that_owns_nothing(seeded: str) -> None:
    live = LiveServer(server_settings(seeded))
    live.app.add_api_route("/test-who", _who)
    with live, live.client() as api:
        assert api.get("/test-who").json() == {"role": ROLE, "owns": 0, "powers": False}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE citybrain.incident_events SET note = 'rewritten' WHERE id = 1",
        "DELETE FROM citybrain.incident_events WHERE id = 1",
        "TRUNCATE citybrain.incident_events",
        "DELETE FROM citybrain.incidents WHERE id = 1",
        "DELETE FROM citybrain.teams WHERE id = 1",
        "UPDATE citybrain.api_keys SET role = 'admin'",
        "INSERT INTO citybrain.api_keys (name, role, key_hash) VALUES ('x', 'admin', 'x')",
        "UPDATE citybrain.grids SET name = 'x' WHERE id = 1",
        "INSERT INTO citybrain.imports (layer, source_name, source_sha256, options, actor, "
        "started_at) VALUES ('grids', 'x', 'x', '{}', 'x', now())",
        "ALTER TABLE citybrain.incidents DISABLE TRIGGER ALL",
        "DROP INDEX citybrain.ix_incident_events_incident",
        "CREATE TABLE citybrain.mine (id int)",
        "SELECT password_hash FROM citybrain.users",  # (account_for_login reads it, alone)
        "SELECT * FROM citybrain.users",
    ],
)
def test_what_the_server_role_may_not_do(as_server: psycopg.Connection, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_server.execute(statement)


def test_what_the_server_role_may_do(as_server: psycopg.Connection) -> None:
    """Everything a request writes (the triggers that follow run with the role's rights),
    in a transaction that is rolled back."""
    with as_server.transaction(force_rollback=True):
        incident, cell = as_server.execute(
            "INSERT INTO citybrain.incidents (category, source, severity, status, tier, "
            "reported_at, updated_at, geom) SELECT category, source, severity, 'reported', tier, "
            "now(), now(), geom FROM citybrain.incidents ORDER BY id LIMIT 1 RETURNING id, h3"
        ).fetchone()
        assert cell is not None  # the cell trigger ran
        event = (
            "INSERT INTO citybrain.incident_events (incident_id, actor, role, action) "
            "VALUES (%s, 'test', 'dispatcher', 'report')"
        )
        # The audit trail takes a step only from a named caller (row security, migration 0019).
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_server.transaction():
            as_server.execute(event, [incident])
        as_server.execute(
            "SELECT set_config('citybrain.role', 'dispatcher', true), "
            "set_config('citybrain.area_level', 'county', true)"
        )
        as_server.execute(event, [incident])
        as_server.execute(
            "UPDATE citybrain.incidents SET status = 'closed' WHERE id = %s", [incident]
        )
        assert (
            as_server.execute("UPDATE citybrain.teams SET status = 'busy' WHERE id = 1").rowcount
            == 1
        )


def test_the_audit_trail_is_append_only_for_the_owner_too(as_owner: psycopg.Connection) -> None:
    incident, entries = 5, 2
    for action in ("report", "dispatch"):
        as_owner.execute(
            "INSERT INTO citybrain.incident_events (incident_id, actor, role, action) "
            "VALUES (%s, 'test', 'dispatcher', %s)",
            [incident, action],
        )
    for statement in (
        "UPDATE citybrain.incident_events SET note = 'rewritten' WHERE incident_id = %s",
        "DELETE FROM citybrain.incident_events WHERE incident_id = %s",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            as_owner.execute(statement, [incident])
    count = "SELECT count(*) FROM citybrain.incident_events WHERE incident_id = %s"
    assert as_owner.execute(count, [incident]).fetchone()[0] == entries
    # an incident deleted (an owner's act) takes its entries with it
    as_owner.execute("DELETE FROM citybrain.idempotency_keys WHERE incident_id = %s", [incident])
    as_owner.execute("DELETE FROM citybrain.incidents WHERE id = %s", [incident])
    assert as_owner.execute(count, [incident]).fetchone()[0] == 0


def test_a_login_of_its_own(fresh_county: str, as_owner: psycopg.Connection) -> None:
    """The strict deployment (docs/security.md): the server logs in as a member of
    citybrain_server only, so even RESET ROLE gives it nothing more; it serves a database its
    owner migrated, and requests write as before."""
    from sqlalchemy.engine import make_url

    from tests.utils.cli import citybrain
    from tests.utils.keys import auth

    login, password = "citybrain_app_test", secrets.token_hex(16)
    as_owner.execute(f"DROP ROLE IF EXISTS {login}")
    as_owner.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(login), sql.Literal(password), sql.Identifier(ROLE)
        )
    )
    url = make_url(fresh_county).set(username=login, password=password)
    url = url.render_as_string(hide_password=False)
    try:
        listed = citybrain(url, "keys", "list")  # the CLI's migrate-when-behind: nothing to do
        assert listed.returncode == 0, listed.stderr
        live = LiveServer(server_settings(url))
        live.app.add_api_route("/test-who", _who)
        with live, live.client() as api:
            assert api.get("/test-who").json() == {"role": ROLE, "owns": 0, "powers": False}
            lon, lat = point_in(as_owner, 10)
            r = api.post(
                "/incidents",
                json={"lon": lon, "lat": lat, "category": "治安"},
                headers=auth("dispatcher"),
            )
            assert r.status_code == 201, r.text
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as own:
            own.execute("RESET ROLE")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                own.execute("UPDATE citybrain.incident_events SET note = 'x'")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                own.execute("ALTER TABLE citybrain.incidents DISABLE TRIGGER ALL")
    finally:
        as_owner.execute(f"DROP ROLE IF EXISTS {login}")


def test_compose_takes_its_secrets_from_an_env_file_and_the_image_is_not_root() -> None:
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    required = "${CITYBRAIN_DB_PASSWORD:?"
    assert compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"].startswith(required)
    for service in ("app", "tests"):
        url = compose["services"][service]["environment"]["CITYBRAIN_DATABASE_URL"]
        assert f":{required}" in url
    assert ".env" in (root / ".gitignore").read_text().split()
    app_stage = (root / "Dockerfile").read_text().split("FROM app AS test")[0]
    assert re.findall(r"^USER (\S+)", app_stage, re.M)[-1] == "citybrain"
