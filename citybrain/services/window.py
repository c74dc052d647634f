"""Time windows, one rule for every route and service: a time without a zone is in
CITYBRAIN_TIMEZONE; a window is ``[start, end)``, given as ``start``/``end`` or as ``last``
(``24h``, ``7d``, ...) ending at ``end`` or, without one, at the end of the current minute
(so that heatmaps, tiles and their caches agree on it for a minute, and what was reported a
moment ago is in it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from citybrain.errors import InvalidInput

LAST = re.compile(r"^(\d{1,5})([hd])$")


def instant(value: str, tz: ZoneInfo, name: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is in ``tz`` (CITYBRAIN_TIMEZONE), the one
    rule of the API (heatmaps, tiles, OGC items, exports alike)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            t = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name}: {value!r} is not an ISO 8601 date or time") from exc
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


def end_of_minute(t: datetime) -> datetime:
    """Where a window that ends now ends: the start of the next minute."""
    return t.replace(second=0, microsecond=0) + timedelta(minutes=1)


@dataclass(frozen=True)
class Window:
    """A time window ``[start, end)`` and the categories and statuses asked for (None: all).
    ``relative``: given as ``last`` (its end is now)."""

    start: datetime
    end: datetime
    categories: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    relative: bool = False


def window(
    tz: ZoneInfo,
    start: str | None,
    end: str | None,
    last: str | None,
    categories: list[str] | None,
    statuses: list[str] | None,
    default_last: str,
    now: datetime,
) -> Window:
    """``start``/``end`` or ``last`` (``24h``, ``7d``, ...; ending at ``end`` or ``now``, the
    service's clock)."""
    if last is not None and start is not None:
        raise InvalidInput("give start or last, not both")
    end_at = instant(end, tz, "end") if end else end_of_minute(now)
    if start is not None:
        start_at = instant(start, tz, "start")
    else:
        m = LAST.match(last or default_last)
        if m is None:
            raise InvalidInput(f"last {last!r}: a number and h or d, e.g. 24h, 7d, 365d")
        n, unit = int(m.group(1)), m.group(2)
        start_at = end_at - (timedelta(hours=n) if unit == "h" else timedelta(days=n))
    if end_at < start_at:
        raise InvalidInput("the window ends before it starts")
    return Window(
        start_at,
        end_at,
        tuple(categories) if categories else None,
        tuple(statuses) if statuses else None,
        relative=start is None and end is None,
    )


@dataclass(frozen=True)
class Interval:
    """OGC API – Features' ``datetime``: an instant (``start == end``, ``exact``) or a closed
    interval whose ends may be open (None)."""

    start: datetime | None
    end: datetime | None
    exact: bool = False


def interval(value: str, tz: ZoneInfo) -> Interval:
    """An OGC ``datetime`` parameter: an instant, or ``a/b`` with ``..`` (or nothing) for an
    open end; a time without a zone is in ``tz``, as everywhere in the API."""

    def end(text: str) -> datetime | None:
        return None if text in ("..", "") else instant(text, tz, "datetime")

    if "/" in value:
        a, b = value.split("/", 1)
        start, stop = end(a), end(b)
        if start and stop and stop < start:
            raise InvalidInput(f"datetime {value!r}: the interval ends before it starts")
        return Interval(start, stop)
    t = end(value)
    if t is None:
        raise InvalidInput("datetime: give an instant or an interval")
    return Interval(t, t, exact=True)


PERIOD_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
PERIOD_DAYS = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def period(value: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A reporting period ``[start, end)`` in ``tz``: a month (``2026-11``) or days, both
    ends included (``2026-11-01..2026-11-15``)."""
    try:
        if m := PERIOD_MONTH.match(value):
            year, month = int(m.group(1)), int(m.group(2))
            first = date(year, month, 1)
            after = date(year + month // 12, month % 12 + 1, 1)
        elif m := PERIOD_DAYS.match(value):
            first = date.fromisoformat(m.group(1))
            after = date.fromisoformat(m.group(2)) + timedelta(days=1)
        else:
            raise ValueError
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"period {value!r}: a month (2026-11) or days (2026-11-01..2026-11-15)"
        ) from None
    if after <= first:
        raise InvalidInput(f"period {value!r} ends before it starts")
    if (after - first).days > 366:
        raise InvalidInput(f"period {value!r} is longer than a year")
    start = datetime.combine(first, datetime.min.time(), tz)
    return start, datetime.combine(after, datetime.min.time(), tz)
