"""Time: the zone of times given without one, and the service's clock (citybrain.clock)."""

from __future__ import annotations

import re
from datetime import datetime, time

from pydantic import Field, field_validator

from citybrain.settings.base import Part

DEFAULT_HOURS = "08:30-12:00,13:30-17:30"
_SESSION = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_hours(text: str) -> tuple[tuple[time, time], ...]:
    """``08:30-12:00,13:30-17:30`` as sessions of one day, in order; ValueError saying what
    is wrong."""
    sessions: list[tuple[time, time]] = []
    for part in text.split(","):
        m = _SESSION.match(part)
        try:
            start, end = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
        except (TypeError, ValueError):
            raise ValueError(f"working hours {part.strip()!r}: write HH:MM-HH:MM") from None
        if end <= start:
            raise ValueError(f"working hours {part.strip()!r}: ends before it starts")
        if sessions and start < sessions[-1][1]:
            raise ValueError(f"working hours {part.strip()!r}: overlaps the one before")
        sessions.append((start, end))
    return tuple(sessions)


class TimeSettings(Part):
    """Time: the zone of times given without one, and the service's clock (citybrain.clock)."""

    timezone: str = Field(
        default="Asia/Shanghai", description="time zone of dates and times given without one"
    )
    work_hours: str = Field(
        default=DEFAULT_HOURS,
        description="the hours of a working day that time limits in working hours count "
        "(工作时), in CITYBRAIN_TIMEZONE, on China's working calendar (citybrain.db.workhours); "
        "`citybrain db migrate` writes the calendar",
    )
    clock_at: datetime | None = Field(
        default=None,
        description="run the service as of this instant, time passing from there (a training "
        "county on archived data, a demonstration, the tests' county): windows, today's counts, "
        "time limits and stamps all read this clock (citybrain.clock); unset: the wall clock",
    )
    clock_since: datetime | None = Field(
        default=None,
        description="the wall-clock instant at which the clock read CITYBRAIN_CLOCK_AT "
        "(default: when each process first reads it; give it so that several processes agree)",
    )

    @field_validator("work_hours")
    @classmethod
    def _sessions(cls, value: str) -> str:
        parse_hours(value)
        return value
