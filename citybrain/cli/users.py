"""``citybrain users``: people's accounts, as an admin keeps them (``citybrain.people.accounts``):
made with a role and an area and a one-time password, listed, disabled (their sessions end at
once), their password reset. A roster file comes in through ``citybrain import users``."""

from __future__ import annotations

from typing import Annotated

import typer

from citybrain.cli.common import console, database_url, table

app = typer.Typer(
    help="People's accounts: made with a role and an area; disabled and reset at once.",
    no_args_is_help=True,
)


@app.command("create")
def users_create(
    login: Annotated[str, typer.Argument(help="user name or phone number")],
    name: Annotated[str, typer.Option(help="the person's name")],
    role: Annotated[str, typer.Option(help="member, dispatcher, handler, leader or admin")],
    area: Annotated[
        str | None,
        typer.Option(
            help="the code of the county, a town, a village or a grid (a member's is "
            "its team's grid)"
        ),
    ] = None,
    team: Annotated[int | None, typer.Option(help="a member's team (id)")] = None,
    phone: Annotated[str | None, typer.Option(help="their phone number")] = None,
) -> None:
    """Make an account: its one-time password is printed once (never stored in plain)."""
    from citybrain import clock
    from citybrain.db.connection import connect
    from citybrain.people.accounts import NewAccount, create

    with connect(database_url(migrate=True), autocommit=True) as conn:
        password = create(conn, NewAccount(login, name, role, area, team, phone), clock.now())
    console.print(f"account {login!r} ({role}) made; its one-time password is shown only now:")
    print(password)  # alone on standard output: a script takes it from there


@app.command("list")
def users_list(
    role: Annotated[str | None, typer.Option(help="only this role")] = None,
) -> None:
    """Every account: login, name, role, area, team, whether disabled (never a password)."""
    from citybrain.db.connection import connect
    from citybrain.people.accounts import listing

    with connect(database_url(migrate=True)) as conn:
        rows = listing(conn, role)
    shown = table("accounts", "login", "name", "role", "area", "team", "disabled")
    for r in rows:
        disabled = f"{r['disabled_at']:%Y-%m-%d %H:%M}" if r["disabled_at"] else ""
        shown.add_row(
            r["login"], r["name"], r["role"], r["area_code"], str(r["team_id"] or ""), disabled
        )
    console.print(shown)


@app.command("disable")
def users_disable(login: Annotated[str, typer.Argument(help="the account's login")]) -> None:
    """Disable an account: it cannot log in, and its sessions end at once."""
    from citybrain import clock
    from citybrain.db.connection import connect
    from citybrain.people.accounts import disable

    with connect(database_url(migrate=True), autocommit=True) as conn:
        ended = disable(conn, login, clock.now())
    console.print(f"account {login!r} disabled; {ended} open session(s) ended")


@app.command("reset-password")
def users_reset_password(
    login: Annotated[str, typer.Argument(help="the account's login")],
) -> None:
    """A new one-time password (printed once); the account's sessions end."""
    from citybrain import clock
    from citybrain.db.connection import connect
    from citybrain.people.accounts import reset_password

    with connect(database_url(migrate=True), autocommit=True) as conn:
        password = reset_password(conn, login, clock.now())
    console.print(f"account {login!r}: its new one-time password is shown only now:")
    print(password)
