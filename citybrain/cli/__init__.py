"""The ``citybrain`` command: the database (``db``), the synthetic county (``seed``), a county's
own data in and out (``import``, ``export``), checks (``validate``), the server (``serve``), API
keys (``keys``), people's accounts (``users``), early warning (``alerts``), tile archives
(``tiles``) and reports (``report``: the assessment). One module per command or group; each
command parses its options, calls the library that does the work and prints the outcome. What
they share is in ``common``.

Exit codes: 0 done; 1 the command's own "no" (violations found, rows rejected, the database
unreachable); 2 a bad option or input (``CitybrainError`` is printed, not raised).
"""

from __future__ import annotations

import sys

import typer

from citybrain.cli import alerts, db, imports, keys, report, seed, serve, tiles, users, validate
from citybrain.cli.common import console
from citybrain.errors import CitybrainError

app = typer.Typer(
    help="citybrain: 一图观全域、一屏管全局 — the county governance map service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# The top-level commands (each module's added without a name), then the groups: the order of
# `citybrain --help`.
for commands in (seed.app, imports.app, validate.app, serve.app):
    app.add_typer(commands)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(alerts.app, name="alerts")
app.add_typer(tiles.app, name="tiles")
app.add_typer(report.app, name="report")


def main() -> None:
    try:
        app()
    except CitybrainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        sys.exit(2)
