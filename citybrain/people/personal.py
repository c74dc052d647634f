"""Personal data, as PIPL asks: masked unless the caller's role needs it (``Can.see_personal``),
and every read of it unmasked recorded in the append-only ``access_log`` (who, when, which
record, through which route), in the transaction that read it."""

from __future__ import annotations

from psycopg import AsyncConnection

from citybrain.domain import Actor
from citybrain.people.caller import SQL
from citybrain.sql import load


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``: enough to tell two callers apart, not to call one."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str | None) -> str | None:
    """``张三丰`` → ``张**``: the family name, not the person."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


MASKS = {"reporter_name": mask_name, "reporter_phone": mask_phone, "phone": mask_phone}


def masked(row: dict, fields: tuple[str, ...]) -> dict:
    """``row`` with ``fields`` masked (those that hold a value)."""
    return {**row, **{f: MASKS[f](row.get(f)) for f in fields if f in row}}


def shown(row: dict, fields: tuple[str, ...]) -> list[str]:
    """The fields of ``row`` that hold personal data to show."""
    return [f for f in fields if row.get(f)]


async def record(
    conn: AsyncConnection,
    actor: Actor,
    user_id: int | None,
    route: str,
    record_id: str,
    fields: list[str],
) -> None:
    """One access-log row: ``actor`` read ``fields`` of ``record_id`` unmasked through
    ``route`` (in the caller's transaction: the log and the read commit together)."""
    if fields:
        await conn.execute(
            load("access_log", SQL),
            {
                "at": actor.at,
                "actor": actor.name,
                "role": actor.role,
                "user_id": user_id,
                "route": route,
                "record": record_id,
                "fields": fields,
            },
        )
