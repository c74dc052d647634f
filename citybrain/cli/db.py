"""``citybrain db``: bring the PostGIS database up (the embedded cluster and its standbys) or
down, say where it is, print its URL, migrate it. The work is ``citybrain.db``'s."""

from __future__ import annotations

from typing import Annotated

import typer

from citybrain.cli.common import console, database_url
from citybrain.settings import get_settings

app = typer.Typer(
    help="The PostGIS database: bring it up, migrate it, inspect it.", no_args_is_help=True
)


@app.command("up")
def db_up(
    replica: Annotated[
        int,
        typer.Option(
            help="also start streaming standby N of the embedded cluster (a base backup the "
            "first time; on CITYBRAIN_PG_PORT + N) to list in CITYBRAIN_REPLICA_URLS"
        ),
    ] = 0,
) -> None:
    """Start the database (installing PostgreSQL/PostGIS and creating the embedded cluster if
    needed) and create the database with its extensions."""
    from sqlalchemy.engine import make_url

    from citybrain.db import cluster

    url = cluster.up(get_settings())
    console.print(f"database ready: {make_url(url).render_as_string(hide_password=True)}")
    if replica:
        standby = cluster.up_replica(get_settings(), replica)
        shown = make_url(standby).render_as_string(hide_password=True)
        console.print(
            f"standby {replica} streaming: {shown}\n"
            f"serve reads from it: CITYBRAIN_REPLICA_URLS={shown} (with the password)"
        )


@app.command("down")
def db_down(
    replica: Annotated[int, typer.Option(help="stop streaming standby N only")] = 0,
) -> None:
    """Stop the embedded PostgreSQL cluster (or one of its standbys)."""
    from citybrain.db import cluster

    if replica:
        stopped = cluster.down_replica(get_settings(), replica)
    else:
        stopped = cluster.down(get_settings())
    console.print("stopped" if stopped else "was not running")


@app.command("status")
def db_status() -> None:
    """Say where the database is and whether it answers; exit 1 when it does not."""
    from citybrain.db import cluster
    from citybrain.db.connection import get_engine
    from citybrain.db.migrate import current_revision, head_revision

    st = cluster.status(get_settings())
    console.print(f"mode: {st.mode}\nurl: {st.url}\nreachable: {st.running}\n{st.detail}")
    if st.running:
        rev = current_revision(get_engine(get_settings().sqlalchemy_url))
        console.print(f"schema revision: {rev or 'none'} (head: {head_revision()})")
    raise typer.Exit(0 if st.running else 1)


@app.command("url")
def db_url(
    libpq: Annotated[
        bool, typer.Option("--libpq", help="postgresql://... for psql, QGIS, GDAL, R")
    ] = False,
) -> None:
    """Print the database's URL, password included, for a notebook's create_engine or another
    program (keep it out of shared files: it is a secret)."""
    url = get_settings().direct_sqlalchemy_url
    typer.echo(url.replace("postgresql+psycopg://", "postgresql://", 1) if libpq else url)


@app.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply the alembic migrations (brings the database up first)."""
    from citybrain.db import cluster
    from citybrain.db.connection import get_engine
    from citybrain.db.migrate import upgrade

    upgrade(get_engine(database_url()), revision)
    cluster.ensure_server_login(get_settings())
    console.print(f"migrated to {revision}")
