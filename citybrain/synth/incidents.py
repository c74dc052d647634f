"""A year of synthetic incidents: where people are and around hotspots, with daily and weekly
rhythms, a trend and a few surge days, a category mix, and a workflow whose statuses and
timestamps agree with each other and with each team's capacity. Fully vectorised: a million
incidents take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import shapely

from citybrain.domain import CATEGORIES, Status, Tier, initial_tier
from citybrain.synth.geometry import sample_in_each
from citybrain.synth.hierarchy import Hierarchy
from citybrain.synth.names import NameBook
from citybrain.synth.resources import Lookup

LOCAL_OFFSET = timedelta(hours=8)  # China Standard Time, no daylight saving
N_HOTSPOTS = 36

# Hotspot kinds and the categories they attract.
HOTSPOT_KINDS = {
    "market": {"城市管理": 3, "食品安全": 4, "矛盾纠纷": 1.5, "民生诉求": 1},
    "industrial_park": {"安全生产": 5, "消防": 3, "出租房屋": 3, "环境": 2},
    "nightlife": {"治安": 5, "矛盾纠纷": 2, "城市管理": 1},
    "junction": {"交通": 6, "城市管理": 1},
    "old_quarter": {"民生诉求": 2, "出租房屋": 2, "消防": 2, "矛盾纠纷": 1.5},
    "riverside_farms": {"环境": 5},
}

# Hour-of-day profiles (local time), one per kind of work.
_OFFICE = np.array(
    [1, 0.5, 0.3, 0.3, 0.4, 1, 3, 6, 9, 11, 11, 10, 7, 8, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1.5]
)
_NIGHT = np.array([6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 5, 5, 6, 7, 8, 9, 9, 8.0])
_RUSH = np.array(
    [1, 0.5, 0.4, 0.4, 0.8, 2, 6, 11, 9, 5, 4, 4, 4, 4, 4, 5, 7, 11, 9, 5, 3, 2, 2, 1.5]
)
HOURS = {"治安": _NIGHT, "交通": _RUSH}

# Weekday factors Monday..Sunday.
_WEEKEND_UP = np.array([1, 1, 1, 1, 1.05, 1.25, 1.3])
_WEEKEND_DOWN = np.array([1.1, 1.1, 1.1, 1.1, 1.05, 0.6, 0.55])
WEEKDAYS = {
    "矛盾纠纷": _WEEKEND_UP,
    "治安": _WEEKEND_UP,
    "安全生产": _WEEKEND_DOWN,
    "出租房屋": _WEEKEND_DOWN,
    "食品安全": _WEEKEND_UP,
}

SEVERITY = {"安全生产": [0.35, 0.35, 0.22, 0.08], "消防": [0.4, 0.35, 0.18, 0.07]}
SEVERITY_DEFAULT = [0.55, 0.3, 0.12, 0.03]

SOURCES = ["grid_patrol", "citizen_app", "hotline_12345", "camera_ai"]
SOURCE_MIX = {
    "交通": [0.2, 0.2, 0.2, 0.4],
    "治安": [0.3, 0.2, 0.3, 0.2],
    "城市管理": [0.45, 0.2, 0.15, 0.2],
    "民生诉求": [0.25, 0.35, 0.4, 0.0],
    "消防": [0.5, 0.15, 0.2, 0.15],
}
SOURCE_DEFAULT = [0.45, 0.25, 0.3, 0.0]

DESCRIPTIONS = {
    "矛盾纠纷": ["邻里噪音纠纷", "宅基地边界纠纷", "婚姻家庭矛盾", "劳资欠薪纠纷", "物业服务纠纷"],
    "治安": ["可疑人员徘徊", "酒后滋事", "电动车被盗", "夜间聚众喧哗"],
    "消防": ["楼道堆放杂物", "电动车违规充电", "消防通道被占用", "灭火器过期"],
    "安全生产": ["企业违规动火作业", "厂房安全隐患", "危化品存放不规范"],
    "环境": ["河道漂浮物", "垃圾乱倒", "秸秆焚烧", "污水直排"],
    "食品安全": ["无证摊贩经营", "餐馆卫生问题", "过期食品销售"],
    "交通": ["车辆违停", "路口拥堵", "交通事故", "信号灯故障"],
    "出租房屋": ["出租房未登记", "群租隐患", "租客信息未申报"],
    "城市管理": ["占道经营", "违章搭建", "广告牌破损", "井盖缺失"],
    "民生诉求": ["路灯不亮", "道路破损", "停水咨询", "养老服务需求", "医保咨询"],
}


def _category_weights(h: Hierarchy, rng: np.random.Generator) -> np.ndarray:
    """Weight of each micro-grid for each category: people, plus hotspots."""
    pop = h.micro_grids.frame["population"].to_numpy(dtype=float)
    area_km2 = shapely.area(h.micro_grids.geoms) / 1e6
    cent = shapely.get_coordinates(shapely.point_on_surface(h.micro_grids.geoms))
    kinds = list(HOTSPOT_KINDS)
    # Hotspots sit where people are, except the farmland ones.
    urban = rng.choice(len(pop), N_HOTSPOTS, replace=False, p=pop / pop.sum())
    rural_w = np.sqrt(area_km2)
    rural = rng.choice(len(pop), N_HOTSPOTS, replace=False, p=rural_w / rural_w.sum())
    kind = rng.choice(len(kinds), N_HOTSPOTS)
    centre = np.where(
        (np.array(kinds)[kind] == "riverside_farms")[:, None], cent[rural], cent[urban]
    )
    sigma = rng.uniform(250, 700, N_HOTSPOTS)
    strength = rng.lognormal(1.2, 0.5, N_HOTSPOTS)
    d2 = ((cent[:, None, :] - centre[None, :, :]) ** 2).sum(axis=2)
    bump = np.exp(-d2 / (2 * sigma**2)) * strength  # (micro, hotspot)
    out = np.empty((len(CATEGORIES), len(pop)))
    for ci, cat in enumerate(CATEGORIES):
        base = np.sqrt(pop * area_km2) if cat.name == "环境" else pop.copy()
        aff = np.array([HOTSPOT_KINDS[kinds[k]].get(cat.name, 0.0) for k in kind])
        out[ci] = base / base.sum() * (1 + (bump * aff).sum(axis=1) * 4)
    return out


def _day_weights(
    cat: str, days: pd.DatetimeIndex, surge_days: dict[int, dict[str, float]]
) -> np.ndarray:
    n = len(days)
    trend = np.linspace(0.9, 1.1, n)  # incidents grow about 20 % over the year
    week = WEEKDAYS.get(cat, np.ones(7))[days.day_of_week]
    season = 1 + (0.25 if cat in ("环境", "消防") else 0.05) * np.cos(
        2 * np.pi * (days.day_of_year.to_numpy() - 200) / 365
    )
    w = trend * week * season
    for d, cats in surge_days.items():
        w[d] *= cats.get(cat, 1.0)
    return w / w.sum()


@dataclass
class _Clock:
    """Report times as seconds since ``base_utc`` (midnight local time of the first day, in
    UTC), and the year's ``end`` in the same seconds."""

    reported: np.ndarray
    base_utc: pd.Timestamp
    end: float

    def stamp(self, values: np.ndarray, reached: np.ndarray) -> pd.Series:
        """``values`` as UTC timestamps to the second, NaT where a stage was not ``reached``."""
        ts = self.base_utc + pd.to_timedelta(np.where(reached, values, np.nan), unit="s")
        return pd.Series(ts).dt.floor("s")


@dataclass
class _Workflow:
    """Each incident's stages as seconds on the clock (``escalated``: NaN where it never
    escalates), and its status at the end of the year."""

    dispatched: np.ndarray
    on_site: np.ndarray
    escalates: np.ndarray
    escalated: np.ndarray
    resolved: np.ndarray
    closed: np.ndarray
    status: np.ndarray


# How far along the workflow a status is (escalated: on site, waiting for the higher tier).
_STAGE = {
    str(s): i
    for i, s in enumerate(
        [Status.reported, Status.dispatched, Status.on_site, Status.resolved, Status.closed]
    )
}


def make_incidents(
    h: Hierarchy,
    lk: Lookup,
    teams: pd.DataFrame,
    n: int,
    rng: np.random.Generator,
    end: datetime,
) -> pd.DataFrame:
    """``n`` incidents reported in the 365 days before ``end`` (UTC), as a frame in metres.

    Each step draws from ``rng`` in turn: their order is what makes a seed give one county."""
    counts = rng.multinomial(n, [c.share for c in CATEGORIES])
    cat_idx = np.repeat(np.arange(len(CATEGORIES)), counts)
    micro, xy = _where(h, counts, rng)
    clock = _when(counts, end, rng)
    severity, source = _what(counts, rng)
    flow = _workflow(cat_idx, severity, clock, rng)
    team, status = _teams(lk, teams, micro, flow.status, clock.reported, rng)
    reporter_name, reporter_phone, description = _reporters(cat_idx, source, rng)

    level, esc_reached = _reached(status, flow, clock)
    team[(level < 1) | (status == str(Status.escalated))] = np.nan
    tier = np.array([[str(initial_tier(c.name, s)) for s in (1, 2, 3, 4)] for c in CATEGORIES])[
        cat_idx, severity - 1
    ]
    tier = np.where(esc_reached, pd.Series(tier).map({str(t): str(t.up()) for t in Tier}), tier)
    last = np.select(
        [level >= 4, level >= 3, esc_reached, level >= 2, level >= 1],
        [flow.closed, flow.resolved, flow.escalated, flow.on_site, flow.dispatched],
        clock.reported,
    )
    everyone = np.ones(n, dtype=bool)
    frame = pd.DataFrame(
        {
            "category": np.array([c.name for c in CATEGORIES], dtype=object)[cat_idx],
            "source": source,
            "severity": severity,
            "status": status,
            "tier": tier,
            "description": description,
            "reported_at": clock.stamp(clock.reported, everyone),
            "dispatched_at": clock.stamp(flow.dispatched, level >= 1),
            "on_site_at": clock.stamp(flow.on_site, level >= 2),
            "resolved_at": clock.stamp(flow.resolved, level >= 3),
            "closed_at": clock.stamp(flow.closed, level >= 4),
            "escalated_at": clock.stamp(flow.escalated, esc_reached),
            "team_id": pd.array(np.where(np.isnan(team), None, team), dtype="Int64"),
            "reporter_name": reporter_name,
            "reporter_phone": reporter_phone,
            "updated_at": clock.stamp(last, everyone),
            "x": xy[:, 0],
            "y": xy[:, 1],
        }
    )
    frame = frame.sort_values("reported_at", kind="stable").reset_index(drop=True)
    frame.insert(0, "id", np.arange(1, n + 1))
    return frame


def _where(
    h: Hierarchy, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each incident's micro-grid (by its category's weights) and its point in it (metres)."""
    weights = _category_weights(h, rng)
    micro = np.empty(int(counts.sum()), dtype=np.int64)
    start = 0
    for ci, k in enumerate(counts):
        micro[start : start + k] = rng.choice(
            weights.shape[1], k, p=weights[ci] / weights[ci].sum()
        )
        start += k
    return micro, sample_in_each(h.micro_grids.geoms[micro], rng)


def _when(counts: np.ndarray, end: datetime, rng: np.random.Generator) -> _Clock:
    """Report times: a day by the category's calendar (with three surge days), an hour by its
    daily profile, a second within the hour; all inside the year before ``end``."""
    end_local = pd.Timestamp(end.replace(tzinfo=None)) + LOCAL_OFFSET
    first_day = (end_local - pd.Timedelta(days=365)).normalize()
    days = pd.date_range(first_day, end_local.normalize(), freq="D")
    surge_days: dict[int, dict[str, float]] = {  # a typhoon, the Spring Festival, a heat wave
        int(rng.integers(150, 250)): {"环境": 6, "消防": 3, "民生诉求": 3, "交通": 2},
        int(rng.integers(40, 80)): {"矛盾纠纷": 4, "治安": 3, "出租房屋": 3},
        int(rng.integers(200, 260)): {"消防": 4, "民生诉求": 2},
    }
    seconds = np.empty(int(counts.sum()))  # since first_day, local time
    start = 0
    for cat, k in zip(CATEGORIES, counts, strict=True):
        p_day = _day_weights(cat.name, days, surge_days)
        hours = HOURS.get(cat.name, _OFFICE)
        sl = slice(start, start + k)
        seconds[sl] = (
            rng.choice(len(days), k, p=p_day) * 86400.0
            + rng.choice(24, k, p=hours / hours.sum()) * 3600.0
            + rng.uniform(0, 3600, k)
        )
        start += k
    span = (end_local - first_day).total_seconds()
    late = (seconds >= span) | (seconds < span - 365 * 86400)
    seconds[late] = rng.uniform(span - 365 * 86400, span, late.sum())
    # Local seconds since first_day are UTC seconds since first_day's midnight in UTC.
    base_utc = (first_day - LOCAL_OFFSET).tz_localize("UTC")
    end_s = (pd.Timestamp(end) - base_utc).total_seconds()
    return _Clock(np.floor(seconds), base_utc, end_s)


def _what(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each incident's severity (1-4) and source, by its category's mix."""
    n = int(counts.sum())
    severity = np.empty(n, dtype=np.int64)
    source = np.empty(n, dtype=object)
    start = 0
    for cat, k in zip(CATEGORIES, counts, strict=True):
        sl = slice(start, start + k)
        severity[sl] = rng.choice([1, 2, 3, 4], k, p=SEVERITY.get(cat.name, SEVERITY_DEFAULT))
        source[sl] = rng.choice(SOURCES, k, p=SOURCE_MIX.get(cat.name, SOURCE_DEFAULT))
        start += k
    return severity, source


def _workflow(
    cat_idx: np.ndarray, severity: np.ndarray, clock: _Clock, rng: np.random.Generator
) -> _Workflow:
    """Dispatch, arrival, escalation, resolution and closing times after each report (scaled
    by the category's limits), and the status each has reached by the end of the year."""
    n = len(cat_idx)
    dispatch_min = np.array([c.dispatch_minutes for c in CATEGORIES], dtype=float)[cat_idx]
    resolve_h = np.array([c.resolve_hours for c in CATEGORIES], dtype=float)[cat_idx]
    dispatched = clock.reported + rng.lognormal(np.log(dispatch_min * 60 * 0.35), 0.9)
    on_site = dispatched + rng.lognormal(np.log(20 * 60), 0.6, n)
    escalates = rng.random(n) < np.where(severity >= 3, 0.08, 0.02)
    escalated = np.where(escalates, on_site + rng.lognormal(np.log(2 * 3600), 0.7, n), np.nan)
    resolve_delay = rng.lognormal(np.log(resolve_h * 3600 * 0.25), 0.9)
    resolved = on_site + resolve_delay * np.where(escalates, 2.5, 1.0)
    resolved = np.where(escalates, np.maximum(resolved, escalated + 1800), resolved)
    closed = resolved + rng.lognormal(np.log(8 * 3600), 0.8, n)

    status = np.full(n, str(Status.reported), dtype=object)
    for col, st in (
        (dispatched, Status.dispatched),
        (on_site, Status.on_site),
        (resolved, Status.resolved),
        (closed, Status.closed),
    ):
        status[col <= clock.end] = str(st)
    waiting_higher = escalates & (escalated <= clock.end) & (resolved > clock.end)
    status[waiting_higher] = str(Status.escalated)
    return _Workflow(dispatched, on_site, escalates, escalated, resolved, closed, status)


def _reached(status: np.ndarray, flow: _Workflow, clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """How far along the workflow each incident is (``_STAGE``; -1: none), and whether it has
    escalated by the end of the year while on site or later."""
    level = np.array([_STAGE.get(s, -1) for s in status])
    level[status == str(Status.escalated)] = _STAGE[str(Status.on_site)]
    return level, flow.escalates & (flow.escalated <= clock.end) & (level >= 2)


def _teams(
    lk: Lookup,
    teams: pd.DataFrame,
    micro: np.ndarray,
    status: np.ndarray,
    reported: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each incident's team id (float: NaN will mark the unassigned), and ``status`` with the
    incidents that find their team full set back to reported."""
    # The grid's own team goes, now and then a neighbour's (网格连心).
    n = len(micro)
    team = teams["id"].to_numpy()[lk.micro_grid[micro]]
    other = rng.random(n) < 0.07
    team[other] = teams["id"].to_numpy()[rng.integers(0, len(teams), other.sum())]
    team = team.astype(float)

    # A team holds at most its capacity of active cases: the latest surplus waits unassigned.
    active = np.isin(status, [str(Status.dispatched), str(Status.on_site)])
    capacity = pd.Series(teams["capacity"].to_numpy(), index=teams["id"].to_numpy())
    act = pd.DataFrame(
        {"i": np.flatnonzero(active), "team": team[active], "t": reported[active]}
    ).sort_values("t")
    act["rank"] = act.groupby("team").cumcount()
    over = act.loc[act["rank"] >= capacity.loc[act["team"]].to_numpy(), "i"].to_numpy()
    status = status.copy()
    status[over] = str(Status.reported)
    return team, status


def _reporters(
    cat_idx: np.ndarray, source: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Who reported (a name and phone where a citizen did: app or hotline) and what they said."""
    n = len(cat_idx)
    names = NameBook(rng)
    personal = np.isin(source, ["citizen_app", "hotline_12345"])
    reporter_name = np.where(personal, names.people(n), None)
    reporter_phone = np.where(personal, names.phones(n), None)
    templates = [DESCRIPTIONS[c.name] for c in CATEGORIES]
    pick = rng.random(n)
    description = [
        templates[c][int(p * len(templates[c]))] for c, p in zip(cat_idx, pick, strict=True)
    ]
    return reporter_name, reporter_phone, description
