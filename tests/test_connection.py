"""``CITYBRAIN_DATABASE_URL`` is honoured whole: its query parameters (``sslmode``,
``application_name``, ``options``, …) reach libpq, and the server's own options are added to
the URL's rather than replacing them."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

from citybrain.db.connection import libpq_conninfo


def test_url_parameters_reach_the_database(db_url: str) -> None:
    url = make_url(db_url).update_query_dict(
        {"application_name": "cb-url-test", "options": "-c work_mem=7MB"}
    )
    url = url.render_as_string(hide_password=False)
    info = libpq_conninfo(url, options="-c statement_timeout=1234")
    with psycopg.connect(info) as conn:
        got = conn.execute(
            "SELECT current_setting('application_name'), current_setting('work_mem'),"
            " current_setting('statement_timeout')"
        ).fetchone()
    assert got == ("cb-url-test", "7MB", "1234ms")


def test_ssl_mode_is_kept(db_url: str) -> None:
    url = make_url(db_url).update_query_dict({"sslmode": "require"})
    info = psycopg.conninfo.conninfo_to_dict(
        libpq_conninfo(url.render_as_string(hide_password=False))
    )
    assert info["sslmode"] == "require"
    # and libpq acts on it: a server without SSL refuses the connection, one with SSL
    # carries it encrypted
    with psycopg.connect(libpq_conninfo(db_url)) as plain:
        server_ssl = plain.execute("SHOW ssl").fetchone()[0] == "on"
    try:
        with psycopg.connect(libpq_conninfo(url.render_as_string(hide_password=False))) as conn:
            encrypted = conn.execute(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            ).fetchone()[0]
    except psycopg.OperationalError as e:
        assert not server_ssl and "SSL" in str(e)
    else:
        assert server_ssl and encrypted is True
