"""Working time counted minute by minute, on the ``chinesecalendar`` package's days (a peer of
the ``holidays`` package the product reads; it knows 2004 to 2026) and the default working
hours: the reference that the database's due times, cards and on-time shares are checked
against."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np

ZONE = ZoneInfo("Asia/Shanghai")
SESSIONS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))  # the default hours


class Minutes:
    """Every minute of [first, last] local days, each working or not; the working minutes
    before each minute boundary (``cum[k]``: of minutes 0 .. k-1)."""

    def __init__(self, first: date, last: date) -> None:
        self.t0 = datetime.combine(first, time(0), ZONE).astimezone(UTC)
        days = (last - first).days + 1
        working = np.zeros(days * 1440, dtype=np.int64)
        for d in range(days):
            day = first + timedelta(days=d)
            if chinese_calendar.is_workday(day):
                for start, end in SESSIONS:
                    a = d * 1440 + start.hour * 60 + start.minute
                    b = d * 1440 + end.hour * 60 + end.minute
                    working[a:b] = 1
        self.working = working
        self.cum = np.concatenate([[0], np.cumsum(working)])

    def index(self, t: datetime) -> int:
        k = (t - self.t0).total_seconds() / 60
        assert k == int(k), "whole minutes only"
        return int(k)

    def due(self, start: datetime, minutes: float) -> datetime:
        """The instant by which ``minutes`` working minutes have passed since ``start`` (the
        seconds of a working minute count as they pass)."""
        offset = (start - self.t0).total_seconds()
        i, into = int(offset // 60), offset % 60
        target = self.cum[i] * 60 + (into if self.working[i] else 0) + minutes * 60
        j = int(np.searchsorted(self.cum * 60, target, side="left")) - 1
        assert j + 1 < len(self.cum), "past the reference's days"
        if j < i:  # (no working time asked for)
            return start
        return self.t0 + timedelta(seconds=60 * j + float(target - self.cum[j] * 60))

    def working_between(self, a: datetime, b: datetime) -> int:
        return int(self.cum[self.index(b)] - self.cum[self.index(a)])
