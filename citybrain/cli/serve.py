"""``citybrain serve``: the database brought up and migrated, then the public and dispatch
server processes (``citybrain.api.server``), as CITYBRAIN_SERVE_USER when started as root."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from citybrain.cli.common import database_url
from citybrain.errors import InvalidInput
from citybrain.settings import get_settings

app = typer.Typer()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default CITYBRAIN_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default CITYBRAIN_PORT")] = None,
    workers: Annotated[
        int, typer.Option(help="public worker processes (one per core is a good start)")
    ] = 1,
) -> None:
    """Serve the map, the OGC API and the dispatch API: ``--workers`` public processes on the
    port, and one for callers with a key on CITYBRAIN_DISPATCH_PORT (8001) that public load
    cannot slow down."""
    from citybrain.api.runas import drop_root
    from citybrain.api.server import run
    from citybrain.db import cluster

    settings = get_settings()
    port = port or settings.port
    if settings.dispatch_port == port:
        raise InvalidInput(
            f"port {port} is also CITYBRAIN_DISPATCH_PORT: give the dispatch process another "
            "port (or 0 for none)"
        )
    database_url(migrate=True)
    cluster.ensure_server_login(settings)  # the login of the request connections (owns nothing)
    os.environ["CITYBRAIN_PORT"] = str(port)  # the processes' settings name the public port
    drop_root(settings)  # as root: serve as CITYBRAIN_SERVE_USER, which holds no owner's secret
    run(
        host or settings.host,
        port,
        workers,
        settings.access_log,
        settings.forwarded_allow_ips,
        settings.dispatch_port,
        settings.public_nice,
    )
