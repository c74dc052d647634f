"""Synthetic grid teams, cameras and facilities, placed where people are."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import orjson
import pandas as pd
import shapely

from citybrain.domain import CATEGORIES, TOWNS, CameraKind, MemberRole, TeamStatus
from citybrain.synth.geometry import sample_in_each
from citybrain.synth.hierarchy import Hierarchy
from citybrain.synth.names import NameBook

N_CAMERAS = 20_000

# Which categories each role makes a team fit for (网格连心、组团服务).
ROLE_SKILLS: dict[MemberRole, tuple[str, ...]] = {
    MemberRole.grid_worker: ("民生诉求", "出租房屋", "城市管理", "环境", "消防"),
    MemberRole.auxiliary_police: ("治安", "交通", "消防"),
    MemberRole.party_member: ("民生诉求",),
    MemberRole.legal_adviser: ("矛盾纠纷",),
    MemberRole.mediator: ("矛盾纠纷",),
}

CAMERA_KINDS = {
    # kind: (share, fov range in degrees, range_m range, label)
    CameraKind.bullet: (0.45, (50, 90), (60, 150), "枪机"),
    CameraKind.dome: (0.25, (360, 360), (40, 80), "球机"),
    CameraKind.face: (0.15, (35, 60), (20, 40), "人脸抓拍"),
    CameraKind.plate: (0.15, (30, 50), (30, 70), "车牌识别"),
}
CAMERA_OWNERS = (["public_security", "community", "transport", "enterprise"], [0.5, 0.3, 0.1, 0.1])


class Lookup:
    """Index arrays from each micro-grid up the hierarchy (0-based row positions)."""

    def __init__(self, h: Hierarchy):
        def up(child, parent_col, parent):
            pos = pd.Series(np.arange(len(parent.frame)), index=parent.frame["id"])
            return pos.loc[child.frame[parent_col]].to_numpy()

        self.compound = np.arange(len(h.compounds.frame))
        self.micro_compound = up(h.micro_grids, "compound_id", h.compounds)
        self.compound_grid = up(h.compounds, "grid_id", h.grids)
        self.grid_village = up(h.grids, "village_id", h.villages)
        self.village_town = up(h.villages, "town_id", h.towns)
        self.micro_grid = self.compound_grid[self.micro_compound]
        self.micro_village = self.grid_village[self.micro_grid]
        self.micro_town = self.village_town[self.micro_village]


def _points_in(h: Hierarchy, micro_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return sample_in_each(h.micro_grids.geoms[micro_idx], rng)


def _pick_micro(weights: np.ndarray, members: np.ndarray, rng: np.random.Generator) -> int:
    w = weights[members].astype(float)
    return int(members[rng.choice(len(members), p=w / w.sum())])


def make_teams(h: Hierarchy, lk: Lookup, rng: np.random.Generator, now: datetime) -> pd.DataFrame:
    names = NameBook(rng)
    pop = h.micro_grids.frame["population"].to_numpy()
    grids = h.grids.frame
    by_grid = pd.Series(np.arange(len(lk.micro_grid))).groupby(lk.micro_grid).apply(np.asarray)
    micro = np.array([_pick_micro(pop, by_grid[g], rng) for g in range(len(grids))])
    xy = _points_in(h, micro, rng)
    statuses = rng.choice(list(TeamStatus), len(grids), p=[0.75, 0.15, 0.10])
    rows = []
    extra = [c.name for c in CATEGORIES if c.name in ("安全生产", "食品安全")]
    for i in range(len(grids)):
        roles = [MemberRole.grid_worker] * int(rng.integers(1, 3)) + [
            MemberRole.party_member
        ] * int(rng.integers(1, 3))
        if rng.random() < 0.8:
            roles.append(MemberRole.auxiliary_police)
        if rng.random() < 0.3:
            roles.append(MemberRole.legal_adviser)
        if rng.random() < 0.6:
            roles.append(MemberRole.mediator)
        people = names.people(len(roles))
        skills = {s for r in roles for s in ROLE_SKILLS[r]}
        skills.update(s for s in extra if rng.random() < 0.3)
        rows.append(
            {
                "code": f"{grids['code'].iat[i]}T1",  # the grid's first (here: only) team
                "name": f"{grids['name'].iat[i]}服务团队",
                "grid_id": int(grids["id"].iat[i]),
                "status": str(statuses[i]),
                "skills": "{" + ",".join(sorted(skills)) + "}",
                "members": orjson.dumps(
                    [{"name": str(n), "role": str(r)} for n, r in zip(people, roles, strict=True)]
                ).decode(),
                "capacity": int(rng.integers(3, 7)),
                "position_at": now - timedelta(minutes=float(rng.uniform(0, 240))),
            }
        )
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
    return frame


def make_cameras(h: Hierarchy, lk: Lookup, rng: np.random.Generator) -> pd.DataFrame:
    pop = h.micro_grids.frame["population"].to_numpy(dtype=float)
    # Denser where people are, and more than their share in built-up micro-grids (智安小区).
    area = shapely.area(h.micro_grids.geoms)
    weight = pop * (1 + np.sqrt(pop / area * 1e6) / 100)
    micro = rng.choice(len(pop), N_CAMERAS, p=weight / weight.sum())
    micro.sort(kind="stable")
    xy = _points_in(h, micro, rng)
    kinds = list(CAMERA_KINDS)
    kind = rng.choice(len(kinds), N_CAMERAS, p=[CAMERA_KINDS[k][0] for k in kinds])
    fov = np.empty(N_CAMERAS)
    rng_m = np.empty(N_CAMERAS)
    for i, k in enumerate(kinds):
        sel = kind == i
        lo, hi = CAMERA_KINDS[k][1]
        fov[sel] = np.round(rng.uniform(lo, hi, sel.sum()))
        lo, hi = CAMERA_KINDS[k][2]
        rng_m[sel] = np.round(rng.uniform(lo, hi, sel.sum()))
    town_codes = np.array([t.code for t in TOWNS])[lk.micro_town[micro]]
    village_names = h.villages.frame["name"].to_numpy()[lk.micro_village[micro]]
    labels = np.array([CAMERA_KINDS[k][3] for k in kinds])[kind]
    seq = np.arange(1, N_CAMERAS + 1)
    frame = pd.DataFrame(
        {
            "id": seq,
            "code": np.char.add(
                np.char.add(town_codes.astype(str), "C"), np.char.zfill(seq.astype(str), 5)
            ),
            "name": [
                f"{v}{lab}{s:05d}" for v, lab, s in zip(village_names, labels, seq, strict=True)
            ],
            "kind": [str(kinds[k]) for k in kind],
            "heading": np.round(rng.uniform(0, 360, N_CAMERAS), 1) % 360,
            "fov": fov,
            "range_m": rng_m,
            "online": rng.random(N_CAMERAS) < 0.93,
            "owner": rng.choice(CAMERA_OWNERS[0], N_CAMERAS, p=CAMERA_OWNERS[1]),
            "x": xy[:, 0],
            "y": xy[:, 1],
        }
    )
    return frame


def make_facilities(h: Hierarchy, lk: Lookup, rng: np.random.Generator) -> pd.DataFrame:
    pop = h.micro_grids.frame["population"].to_numpy(dtype=float)
    villages = h.villages.frame
    by_village = pd.Series(np.arange(len(pop))).groupby(lk.micro_village).apply(np.asarray)
    by_town = pd.Series(np.arange(len(pop))).groupby(lk.micro_town).apply(np.asarray)
    rows: list[dict] = []

    def add(kind: str, name: str, micro: int, level: str | None = None, cap: int | None = None):
        rows.append({"kind": kind, "level": level, "name": name, "capacity": cap, "micro": micro})

    seat_micro = []
    for ti, town in enumerate(TOWNS):
        members = by_town[ti]
        # The town seat: the most populous micro-grids of the town centre.
        centre = members[np.argsort(-pop[members])[:25]]
        seat = int(centre[0])
        seat_micro.append(seat)
        add("party_service_centre", f"{town.name}党群服务中心", seat, "town", 300)
        for n in range(3):
            add("police_post", f"{town.name}联勤警务站{n + 1}号", int(rng.choice(centre)), None, 20)
        add("legal_service", f"{town.name}公共法律服务站", int(rng.choice(centre)), None, 30)
        add("mediation_room", f"{town.name}矛盾纠纷调处化解中心", int(rng.choice(centre)), None, 40)
    county_seat = seat_micro[[t.code for t in TOWNS].index("330421001")]
    add("party_service_centre", "嘉善县党群服务中心", county_seat, "county", 1000)
    for vi in range(len(villages)):
        name, kind = villages["name"].iat[vi], villages["kind"].iat[vi]
        members = by_village[vi]
        centre = _pick_micro(pop, members, rng)
        add("party_service_centre", f"{name}党群服务中心", centre, "village", 100)
        if rng.random() < (0.97 if kind == "village" else 0.5):
            add("cultural_hall", f"{name}文化礼堂", _pick_micro(pop, members, rng), None, 300)
        if rng.random() < 0.35:
            add("mediation_room", f"{name}调解室", centre, None, 10)
        if rng.random() < 0.2:
            add("legal_service", f"{name}法律服务点", centre, None, 10)
        if kind == "community":
            for n in range(int(rng.integers(1, 4))):
                add(
                    "party_service_centre",
                    f"{name}红色驿站{n + 1}号",
                    _pick_micro(pop, members, rng),
                    "station",
                    30,
                )
    frame = pd.DataFrame(rows)
    xy = _points_in(h, frame.pop("micro").to_numpy(), rng)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame.insert(1, "code", [f"F{i:05d}" for i in frame["id"]])  # as migration 0012 numbers them
    frame["capacity"] = frame["capacity"].astype("Int64")
    frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
    return frame
