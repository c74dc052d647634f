"""Time: the zone of times given without one, and the service's clock (citybrain.clock)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from citybrain.settings.base import Part


class TimeSettings(Part):
    """Time: the zone of times given without one, and the service's clock (citybrain.clock)."""

    timezone: str = Field(
        default="Asia/Shanghai", description="time zone of dates and times given without one"
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
