"""``citybrain keys``: make, list and revoke API keys (``citybrain.services.keys`` keeps them,
as hashes only)."""

from __future__ import annotations

from typing import Annotated

import typer

from citybrain.cli.common import console, database_url, table

app = typer.Typer(
    help="API keys: made here, shown once, stored only as their hash; revoked at once.",
    no_args_is_help=True,
)


@app.command("create")
def keys_create(
    role: Annotated[str, typer.Argument(help="display, viewer, dispatcher, admin or intake")],
    name: Annotated[str, typer.Option(help="what the audit trail calls its holder")],
    area: Annotated[
        str | None,
        typer.Option(
            help="the code of the area it acts in: a town, village or grid (default: the county)"
        ),
    ] = None,
) -> None:
    """Make a key: printed once (192 random bits); only its hash is kept."""
    from citybrain.db.connection import connect
    from citybrain.people.accounts import area_of
    from citybrain.services import keys

    with connect(database_url(migrate=True), autocommit=True) as conn:
        key = keys.create(conn, role, name, area_of(conn, area) if area else None)
    console.print(f"key {name!r} ({role}) made; it is shown only now:")
    print(key)  # alone on standard output: a script takes it from there


@app.command("list")
def keys_list() -> None:
    """Every key's name, role and dates (never a key)."""
    from citybrain.db.connection import connect
    from citybrain.services import keys

    with connect(database_url(migrate=True)) as conn:
        rows = keys.listed(conn)
    shown = table("API keys", "name", "role", "area", "created", "revoked")
    for name, role, area, created, revoked in rows:
        shown.add_row(
            name,
            role,
            area,
            f"{created:%Y-%m-%d %H:%M}",
            f"{revoked:%Y-%m-%d %H:%M}" if revoked else "",
        )
    console.print(shown)


@app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key: every server refuses it within a second."""
    from citybrain.db.connection import connect
    from citybrain.services import keys

    with connect(database_url(migrate=True), autocommit=True) as conn:
        keys.revoke(conn, name)
    console.print(f"key {name!r} revoked")
