"""Working hours (工作时): the county's working calendar, on which case time limits count.

A working day is a weekday that is not a public holiday, or a weekend day worked in a
holiday's place (调休). Both come from the ``holidays`` package's calendar of China, which its
maintainers bring up to date each year once the State Council publishes the next year's
schedule (usually in November); for a year it does not know yet, it has the statutory holidays
by rule and no 调休 days. A working day's hours are ``CITYBRAIN_WORK_HOURS`` (default
``08:30-12:00,13:30-17:30``) in ``CITYBRAIN_TIMEZONE``.

The database holds the calendar as periods (``citybrain.work_periods``: each working session's
start and end, and the working seconds of all the sessions before it), which ``citybrain db
migrate`` writes from this module for ``YEARS``. A due time is then two index lookups
(``citybrain.work_due``) and the working time between two instants a subtraction of two
(``citybrain.work_clock``); what a time limit counts (clock or working hours) is the
database's too (``citybrain.time_limits``, ``citybrain.step_due``). Upgrading the package and
running ``citybrain db migrate`` brings in a newly published year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import psycopg

from citybrain.settings.timekeeping import DEFAULT_HOURS, parse_hours
from citybrain.sql import load

YEARS = range(2000, 2041)  # what the database's calendar covers


@dataclass(frozen=True)
class Calendar:
    """Which days are worked and which hours of them, in the county's zone."""

    hours: tuple[tuple[time, time], ...]
    zone: ZoneInfo

    @classmethod
    def of(cls, work_hours: str = DEFAULT_HOURS, timezone: str = "Asia/Shanghai") -> Calendar:
        return cls(parse_hours(work_hours), ZoneInfo(timezone))

    def holidays_of(self, years: range) -> holidays.HolidayBase:
        return holidays.country_holidays("CN", years=years)

    def working_days(self, years: range) -> list[date]:
        """Every working day of ``years``, in order."""
        off = self.holidays_of(years)
        worked = set(off.weekend_workdays)
        day, last, out = date(years.start, 1, 1), date(years.stop - 1, 12, 31), []
        while day <= last:
            if day in worked or (day.weekday() < 5 and day not in off):
                out.append(day)
            day += timedelta(days=1)
        return out

    def periods(self, years: range) -> list[tuple[datetime, datetime]]:
        """Every working session of ``years`` as UTC instants, in order."""
        out = []
        for day in self.working_days(years):
            for start, end in self.hours:
                out.append(
                    (
                        datetime.combine(day, start, self.zone).astimezone(UTC),
                        datetime.combine(day, end, self.zone).astimezone(UTC),
                    )
                )
        return out


def store(conn: psycopg.Connection, calendar: Calendar, years: range = YEARS) -> int:
    """Write ``calendar``'s periods into ``citybrain.work_periods`` (replacing what was there,
    in the caller's transaction); how many."""
    rows, before = [], 0
    for start, end in calendar.periods(years):
        rows.append((start, end, before))
        before += int((end - start).total_seconds())
    conn.execute(load("workhours/clear"))
    with conn.cursor().copy(load("workhours/copy")) as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)
