"""Time limits in working hours (issue 32): the working calendar the database holds, the due
times and cards (黄牌, 红牌) it computes, and the on-time shares built on them, each checked
against a minute-by-minute count over another package's calendar (``tests.utils.workhours``:
``chinesecalendar``), across the 2026 National Day week with its 调休 Sunday and Saturday and
the 2025 Spring Festival with its own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import httpx
import numpy as np
import psycopg
import pytest

from citybrain.db import workhours
from citybrain.settings.timekeeping import parse_hours
from tests.utils.keys import auth
from tests.utils.workhours import ZONE, Minutes

LIMITS = (1, 30, 210, 450, 960, 2400)  # minutes: within a session, a day, several days


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZONE).astimezone(UTC)


def _starts(first: datetime, last: datetime, every_min: int) -> list[datetime]:
    n = int((last - first).total_seconds() // 60 // every_min)
    return [first + timedelta(minutes=every_min * k) for k in range(n)]


def _dues(conn: psycopg.Connection, starts: list[datetime], minutes: list[float]) -> list:
    return [
        r[0]
        for r in conn.execute(
            "SELECT citybrain.work_due(s, make_interval(secs => 60.0 * m)) "
            "FROM unnest(%s::timestamptz[], %s::float8[]) WITH ORDINALITY AS x(s, m, k) "
            "ORDER BY k",
            [starts, minutes],
        )
    ]


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2026, 9, 14), date(2026, 10, 20)),  # 国庆: 10-01..07 off, 09-20 and 10-10 worked
        (date(2025, 1, 20), date(2025, 2, 14)),  # 春节: 01-28..02-04 off, 01-26 and 02-08 worked
    ],
)
def test_due_times_equal_a_minute_by_minute_count(conn, first: date, last: date) -> None:
    ref = Minutes(first, last + timedelta(days=30))
    starts = _starts(_local(first.year, first.month, first.day), _local(*last.timetuple()[:3]), 37)
    cases = [(s, m) for s in starts for m in LIMITS]
    got = _dues(conn, [s for s, _ in cases], [m for _, m in cases])
    want = [ref.due(s, m) for s, m in cases]
    wrong = [(s, m, g, w) for (s, m), g, w in zip(cases, got, want, strict=True) if g != w]
    assert not wrong, wrong[:5]
    assert len(cases) > 5000
    # and working time between two instants is a difference of the calendar's clock
    a, b = np.array(starts[:-300]), np.array(starts[300:])
    elapsed = conn.execute(
        "SELECT array_agg(citybrain.work_clock(b) - citybrain.work_clock(a) ORDER BY k) "
        "FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS x(a, b, k)",
        [list(a), list(b)],
    ).fetchone()[0]
    assert elapsed == [60.0 * ref.working_between(x, y) for x, y in zip(a, b, strict=True)]


def test_the_eve_of_national_day() -> None:
    """One worked by hand: 16:00 on 30 September 2026 plus 3 working hours is 10:00 on
    8 October (1.5 h that afternoon, the week off, 1.5 h on the 8th)."""
    ref = Minutes(date(2026, 9, 28), date(2026, 10, 12))
    assert ref.due(_local(2026, 9, 30, 16), 180) == _local(2026, 10, 8, 10)


def test_the_calendar_has_the_state_councils_days() -> None:
    """The product's calendar (the holidays package) and the reference's (chinesecalendar)
    agree on every day of 2019-2026: the same holidays, the same 调休 weekend days worked."""
    years = range(2019, 2027)
    ours = set(workhours.Calendar.of().working_days(years))
    theirs = {
        date(y, 1, 1) + timedelta(days=d)
        for y in years
        for d in range(366)
        if (date(y, 1, 1) + timedelta(days=d)).year == y
        and chinese_calendar.is_workday(date(y, 1, 1) + timedelta(days=d))
    }
    assert ours == theirs
    assert date(2026, 10, 10) in ours and date(2026, 10, 8) in ours  # a Saturday, a Thursday
    assert date(2026, 10, 5) not in ours  # a Monday of the holiday


def _limits(conn) -> dict[tuple[str, str], tuple[int, bool]]:
    return {
        (c, s): (m, w)
        for c, s, m, w in conn.execute(
            "SELECT category, step, minutes, working FROM citybrain.time_limits"
        )
    }


def test_cards_are_the_limits_counted_on_the_calendar(conn) -> None:
    """黄牌 past 80% of a limit with the step undone, 红牌 past the limit (or done late), none
    otherwise: for a working-hours limit (民生诉求's resolution), a clock one (治安's), and a
    dispatch limit, at instants all around them."""
    limits = _limits(conn)
    ref = Minutes(date(2026, 9, 1), date(2026, 12, 31))
    rows = []
    for category, step in (("民生诉求", "resolve"), ("治安", "resolve"), ("环境", "dispatch")):
        minutes, working = limits[(category, step)]
        for since in _starts(_local(2026, 9, 16), _local(2026, 10, 9), 313):

            def due(share: float, since=since, minutes=minutes, working=working) -> datetime:
                if working:
                    return ref.due(since, minutes * share)
                return since + timedelta(minutes=minutes * share)

            full, warn = due(1), due(0.8)
            for upto in (warn - timedelta(minutes=1), warn, full, full + timedelta(minutes=1)):
                for done in (True, False):
                    late = upto > full
                    card = "red" if late else ("yellow" if not done and upto > warn else None)
                    rows.append((category, step, since, upto if done else None, upto, card))
    got = conn.execute(
        "SELECT array_agg(citybrain.step_card(c, s, t, d, n) ORDER BY k) FROM unnest("
        "%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[]) "
        "WITH ORDINALITY AS x(c, s, t, d, n, k)",
        [list(col) for col in zip(*rows, strict=True)][:5],
    ).fetchone()[0]
    want = [r[5] for r in rows]
    wrong = [(r, g) for r, g in zip(rows, got, strict=True) if g != r[5]]
    assert not wrong, wrong[:5]
    assert {"red", "yellow", None} == set(want)
    # working hours are not clock hours: 民生诉求's 168 hours run past 22 calendar days
    minutes, working = limits[("民生诉求", "resolve")]
    assert working and minutes == 168 * 60
    since = _local(2026, 9, 28, 9)
    assert ref.due(since, minutes) - since > timedelta(days=30)  # (the week off inside)


def test_an_incident_shows_its_due_times_and_cards(server, conn) -> None:
    """GET /incidents/{id}: due times and cards for open and resolved cases of the seeded
    county, as the reference computes them at the server's now."""
    limits = _limits(conn)
    ref = Minutes(date(2025, 1, 1), date(2026, 12, 31))
    with server.client() as c:
        now = datetime.fromisoformat(c.get("/stats").json()["generated_at"])
        rows = conn.execute(
            "SELECT id, category, reported_at, dispatched_at, resolved_at FROM "
            "citybrain.incidents WHERE category IN ('民生诉求', '治安') "
            "AND reported_at > %s - interval '60 days' ORDER BY id LIMIT 60",
            [now],
        ).fetchall()
        seen = set()
        for incident, category, reported, dispatched, resolved in rows:
            got = c.get(f"/incidents/{incident}", headers=auth("dispatcher")).json()
            for step, done in (("dispatch", dispatched), ("resolve", resolved)):
                minutes, working = limits[(category, step)]
                if working:
                    whole = ref.due(reported, minutes)
                else:
                    whole = reported + timedelta(minutes=minutes)
                shown = datetime.fromisoformat(got[f"{step}_due_at"])
                assert abs(shown - whole) < timedelta(seconds=1)  # (shown to the second)
                if done is not None:
                    want = "red" if done > whole else None
                    assert got[f"{step}_card"] == want
                    seen.add(want)
    assert len(rows) == 60 and {"red", None} <= seen


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("8:30-12:00", None),
        ("08:30-12:00,13:30-17:30", None),
        ("08:30-12", "HH:MM-HH:MM"),
        ("25:00-26:00", "HH:MM-HH:MM"),
        ("12:00-08:30", "ends before it starts"),
        ("08:00-12:00,11:00-17:00", "overlaps the one before"),
        ("", "HH:MM-HH:MM"),
    ],
)
def test_the_working_hours_setting(text: str, says: str | None) -> None:
    if says is None:
        assert parse_hours(text)[0][1].hour == 12
    else:
        with pytest.raises(ValueError, match=says):
            parse_hours(text)


def test_other_working_hours_make_other_due_times(conn) -> None:
    """A county on 09:00-12:00 and 14:00-18:00: 17:30 on Friday 9 October 2026 plus an hour
    is 09:30 on the Saturday worked in the holiday's place."""
    workhours.store(conn, workhours.Calendar.of("09:00-12:00,14:00-18:00"), range(2026, 2027))
    (due,) = _dues(conn, [_local(2026, 10, 9, 17, 30)], [60])
    assert due == _local(2026, 10, 10, 9, 30)
    conn.rollback()


def test_the_api_lists_each_categorys_limits(client: httpx.Client, conn) -> None:
    listed = {c["name"]: c for c in client.get("/categories").json()["categories"]}
    for (category, step), (minutes, working) in _limits(conn).items():
        if step == "dispatch":
            assert listed[category]["dispatch_minutes"] == minutes
        else:
            assert listed[category]["resolve_hours"] == minutes / 60
            assert listed[category]["resolve_in_working_hours"] is working
    assert listed["治安"]["resolve_in_working_hours"] is False
    assert listed["民生诉求"]["resolve_in_working_hours"] is True
