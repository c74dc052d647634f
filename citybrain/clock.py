"""The service's clock: what "now" is for windows, today's counts, time limits, alerts and the
times written on incidents. Every reading of business time goes through ``now()``; the
database is handed the instant as a parameter rather than asked for its own ``now()``, so
that the server, its jobs, the command line and the database agree on one clock.

Normally it is the wall clock. ``CITYBRAIN_CLOCK_AT`` runs the service as of another moment,
with time passing from there: a training county on an archived year, a demonstration, or the
tests' county (seeded up to a fixed instant, so that the suite passes on any day and under
``faketime``). ``CITYBRAIN_CLOCK_SINCE`` is the wall-clock instant at which the clock read
``CLOCK_AT`` (default: when the process first reads it); processes given the same pair agree
to the microsecond.

Security time (sessions, lockouts, rate limits) is not business time: it stays on the wall
and monotonic clocks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from citybrain.settings import Settings, get_settings


class Clock:
    """Business time: the wall clock, or shifted to read ``at`` at the wall instant ``since``."""

    def __init__(self, at: datetime | None = None, since: datetime | None = None) -> None:
        self.offset = timedelta(0)
        if at is not None:
            anchor = since or datetime.now(UTC)
            self.offset = _aware(at) - _aware(anchor)

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        return datetime.now(UTC) + self.offset

    @property
    def shifted(self) -> bool:
        return bool(self.offset)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@lru_cache(maxsize=8)
def _clock(at: datetime | None, since: datetime | None) -> Clock:
    return Clock(at, since)


def clock_of(settings: Settings) -> Clock:
    """The clock ``settings`` describe (one per distinct setting, so that ``since`` defaults
    to the first reading in this process)."""
    return _clock(settings.clock_at, settings.clock_since)


def now(settings: Settings | None = None) -> datetime:
    """Business time now (UTC) by ``settings`` (default: the process's settings)."""
    return clock_of(settings or get_settings()).now()
