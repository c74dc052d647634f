"""A year of synthetic incidents: where people are and around hotspots, with daily and weekly
rhythms, a trend and a few surge days, a category mix, and a workflow whose statuses and
timestamps agree with each other and with each team's capacity. Fully vectorised: a million
incidents take seconds.
"""

from __future__ import annotations

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


def make_incidents(
    h: Hierarchy,
    lk: Lookup,
    teams: pd.DataFrame,
    n: int,
    rng: np.random.Generator,
    end: datetime,
) -> pd.DataFrame:
    """``n`` incidents reported in the 365 days before ``end`` (UTC), as a frame in metres."""
    cats = [c.name for c in CATEGORIES]
    counts = rng.multinomial(n, [c.share for c in CATEGORIES])
    cat_idx = np.repeat(np.arange(len(CATEGORIES)), counts)
    weights = _category_weights(h, rng)
    micro = np.empty(n, dtype=np.int64)
    start = 0
    for ci, k in enumerate(counts):
        micro[start : start + k] = rng.choice(
            weights.shape[1], k, p=weights[ci] / weights[ci].sum()
        )
        start += k
    xy = sample_in_each(h.micro_grids.geoms[micro], rng)

    # --- when ---------------------------------------------------------------------------
    end_local = pd.Timestamp(end.replace(tzinfo=None)) + LOCAL_OFFSET
    first_day = (end_local - pd.Timedelta(days=365)).normalize()
    days = pd.date_range(first_day, end_local.normalize(), freq="D")
    surge_days = {  # a typhoon, the Spring Festival, a heat wave
        int(rng.integers(150, 250)): {"环境": 6, "消防": 3, "民生诉求": 3, "交通": 2},
        int(rng.integers(40, 80)): {"矛盾纠纷": 4, "治安": 3, "出租房屋": 3},
        int(rng.integers(200, 260)): {"消防": 4, "民生诉求": 2},
    }
    seconds = np.empty(n)  # since first_day, local time
    start = 0
    for ci, k in enumerate(counts):
        p_day = _day_weights(cats[ci], days, surge_days)
        hours = HOURS.get(cats[ci], _OFFICE)
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
    seconds = np.floor(seconds)
    # From local time to UTC, as timestamps in seconds since first_day (UTC).
    base_utc = (first_day - LOCAL_OFFSET).tz_localize("UTC")
    end_s = (pd.Timestamp(end) - base_utc).total_seconds()

    # --- what -----------------------------------------------------------------------------
    severity = np.empty(n, dtype=np.int64)
    source = np.empty(n, dtype=object)
    start = 0
    for ci, k in enumerate(counts):
        sl = slice(start, start + k)
        severity[sl] = rng.choice([1, 2, 3, 4], k, p=SEVERITY.get(cats[ci], SEVERITY_DEFAULT))
        source[sl] = rng.choice(SOURCES, k, p=SOURCE_MIX.get(cats[ci], SOURCE_DEFAULT))
        start += k
    tier_table = np.array([[str(initial_tier(c, s)) for s in (1, 2, 3, 4)] for c in cats])
    tier = tier_table[cat_idx, severity - 1]

    # --- workflow -------------------------------------------------------------------------
    dispatch_min = np.array([c.dispatch_minutes for c in CATEGORIES], dtype=float)[cat_idx]
    resolve_h = np.array([c.resolve_hours for c in CATEGORIES], dtype=float)[cat_idx]
    reported = seconds  # local seconds since first_day = UTC seconds since base_utc
    dispatched = reported + rng.lognormal(np.log(dispatch_min * 60 * 0.35), 0.9)
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
        status[col <= end_s] = str(st)
    waiting_higher = escalates & (escalated <= end_s) & (resolved > end_s)
    status[waiting_higher] = str(Status.escalated)

    # The grid's own team goes, now and then a neighbour's (网格连心).
    grid = lk.micro_grid[micro]
    team = teams["id"].to_numpy()[grid]
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
    status[over] = str(Status.reported)

    def stamp(values: np.ndarray, reached: np.ndarray) -> pd.Series:
        ts = base_utc + pd.to_timedelta(np.where(reached, values, np.nan), unit="s")
        return pd.Series(ts).dt.floor("s")

    rank = {
        str(s): i
        for i, s in enumerate(
            [Status.reported, Status.dispatched, Status.on_site, Status.resolved, Status.closed]
        )
    }
    level = np.array([rank.get(s, -1) for s in status])
    esc_reached = escalates & (escalated <= end_s)
    level[status == str(Status.escalated)] = rank[str(Status.on_site)]
    team[(level < 1) | (status == str(Status.escalated))] = np.nan
    esc_reached &= level >= 2
    tier = np.where(esc_reached, pd.Series(tier).map({str(t): str(t.up()) for t in Tier}), tier)
    last = np.select(
        [level >= 4, level >= 3, esc_reached, level >= 2, level >= 1],
        [closed, resolved, escalated, on_site, dispatched],
        reported,
    )

    names = NameBook(rng)
    personal = np.isin(source, ["citizen_app", "hotline_12345"])
    reporter_name = np.where(personal, names.people(n), None)
    reporter_phone = np.where(personal, names.phones(n), None)
    templates = [DESCRIPTIONS[c] for c in cats]
    pick = rng.random(n)
    description = [
        templates[c][int(p * len(templates[c]))] for c, p in zip(cat_idx, pick, strict=True)
    ]

    frame = pd.DataFrame(
        {
            "category": np.array(cats, dtype=object)[cat_idx],
            "source": source,
            "severity": severity,
            "status": status,
            "tier": tier,
            "description": description,
            "reported_at": stamp(reported, np.ones(n, dtype=bool)),
            "dispatched_at": stamp(dispatched, level >= 1),
            "on_site_at": stamp(on_site, level >= 2),
            "resolved_at": stamp(resolved, level >= 3),
            "closed_at": stamp(closed, level >= 4),
            "escalated_at": stamp(escalated, esc_reached),
            "team_id": pd.array(np.where(np.isnan(team), None, team), dtype="Int64"),
            "reporter_name": reporter_name,
            "reporter_phone": reporter_phone,
            "updated_at": stamp(last, np.ones(n, dtype=bool)),
            "x": xy[:, 0],
            "y": xy[:, 1],
        }
    )
    frame = frame.sort_values("reported_at", kind="stable").reset_index(drop=True)
    frame.insert(0, "id", np.arange(1, n + 1))
    return frame
