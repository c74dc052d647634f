"""What the command's modules share: the console (standard error, so that a command's data on
standard output stays clean to pipe), the database URL a command works on, and the shape of its
tables and progress bars."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from citybrain.settings import get_settings

console = Console(stderr=True)


def database_url(migrate: bool = False) -> str:
    """The database URL, with the database brought up (and migrated) first."""
    from citybrain.db import cluster

    settings = get_settings()
    cluster.ensure_up(settings)
    # The owner's jobs (migrations, seeds, imports, keys, a detector's session lock) go to the
    # primary itself, never through a transaction pooler (CITYBRAIN_DIRECT_DATABASE_URL).
    url = settings.direct_sqlalchemy_url
    if migrate:
        from citybrain.db.connection import get_engine
        from citybrain.db.migrate import current_revision, head_revision, upgrade

        engine = get_engine(url)
        # Only when behind: a login that may only read the schema (a server's login of its
        # own, a member of citybrain_server) serves a database its owner has migrated.
        if current_revision(engine) != head_revision():
            upgrade(engine)
    return url


def table(title: str, *columns: str, right: Iterable[str] = ()) -> Table:
    """An empty table of ``columns``; those named in ``right`` (counts, times) align right."""
    right = set(right)
    shown = Table(title=title)
    for column in columns:
        shown.add_column(column, justify="right" if column in right else "left")
    return shown


def progress(spinner: bool = False) -> Progress:
    """The bars of a long job (an import, a tile export), gone from the screen when it ends;
    ``spinner`` for a job that starts with a step of unknown length."""
    columns = [
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    if spinner:
        columns.insert(0, SpinnerColumn())
    return Progress(*columns, console=console, transient=True)
