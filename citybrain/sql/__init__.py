"""SQL kept in files: ``load("validate/gaps")`` reads ``validate/gaps.sql`` next to this module;
a package that keeps its own statements beside it names their directory as ``root``
(``citybrain.alerts``: ``alerts/sql/``).

Table and column names are filled in with ``psycopg.sql.Identifier`` (never string formatting);
values are always bound parameters. The domain's fixed sets — which statuses are open, which
count against a team — are owned by ``citybrain.domain`` alone: a file names them as
``{domain.OPEN_STATUSES}`` (a list, written ``('reported', ...)``) or
``{domain.TeamStatus.available}`` (one value), and ``load`` writes them in. They stay literals
in the statement, so that the planner matches them against partial indexes.
"""

import re
from enum import Enum
from functools import cache
from pathlib import Path

from psycopg import sql

from citybrain import domain

_HERE = Path(__file__).parent
_DOMAIN = re.compile(r"\{domain\.([A-Za-z_][A-Za-z0-9_.]*)\}")
_WORD = re.compile(r"[a-z][a-z0-9_]*")


@cache
def load(name: str, root: Path = _HERE) -> str:
    return _DOMAIN.sub(_domain_literal, (root / f"{name}.sql").read_text())


def compose(name: str, root: Path = _HERE, **identifiers: str) -> sql.Composed:
    """The statement in ``name``.sql with ``{placeholders}`` filled by quoted identifiers."""
    return sql.SQL(load(name, root)).format(
        **{k: sql.Identifier(*v.split(".")) for k, v in identifiers.items()}
    )


def literal(values) -> str:
    """A domain value (``'open'``) or set of values (``('a', 'b')``) as SQL; only the domain's
    lower-case words are accepted, so no quoting is needed (or possible to get wrong)."""
    if isinstance(values, str | Enum):
        return _word(values)
    words = [_word(v) for v in values]
    if not words:
        raise ValueError("an empty set cannot be written as an SQL list")
    return f"({', '.join(words)})"


def _word(value) -> str:
    text = str(value.value if isinstance(value, Enum) else value)
    if not _WORD.fullmatch(text):
        raise ValueError(f"{text!r} is not a domain word")
    return f"'{text}'"


def _domain_literal(match: re.Match) -> str:
    found = domain
    for part in match.group(1).split("."):
        found = getattr(found, part)
    return literal(found)
