"""The synthetic county's people, so that everything can be tried at once after a seed: an
account for each member of each grid team (网格员 and their teammates, role ``member``), a
dispatcher for each town (``d-<town code>``) and for the county (``dispatcher``), a handler for
each department (``h-<department code>``: ``synth.departments``), a county leader
(``leader``) and an admin (``admin``).

They share one password, made afresh by each seed and shown once (``citybrain seed`` prints it
and writes it to a file only its owner reads): one hash for all, since Argon2 takes tens of
milliseconds a hash and a county has thousands of members."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import orjson
import pandas as pd

from citybrain.domain import COUNTY_CODE, COUNTY_NAME, Role
from citybrain.synth.hierarchy import Hierarchy


def make_people(
    h: Hierarchy,
    teams: pd.DataFrame,
    departments: pd.DataFrame,
    password_hash: str,
    now: datetime,
) -> pd.DataFrame:
    """The accounts, as rows of ``citybrain.users`` (ids from 1)."""
    towns = h.towns.frame.set_index("id")
    grids = h.grids.frame.set_index("id")
    villages = h.villages.frame.set_index("id")
    rows: list[dict] = [
        _row("admin", "系统管理员", Role.admin, COUNTY_CODE, "county"),
        _row("leader", f"{COUNTY_NAME}领导", Role.leader, COUNTY_CODE, "county"),
        _row("dispatcher", f"{COUNTY_NAME}指挥中心调度员", Role.dispatcher, COUNTY_CODE, "county"),
    ]
    for town_id, town in towns.iterrows():
        rows.append(
            _row(
                f"d-{town['code']}",
                f"{town['name']}调度员",
                Role.dispatcher,
                town["code"],
                "town",
                town_id=int(town_id),
            )
        )
    for dept in departments.itertuples():
        town = towns.loc[dept.town_id] if not pd.isna(dept.town_id) else None
        rows.append(
            _row(
                f"h-{dept.code}",
                f"{dept.name}处置人员",
                Role.handler,
                COUNTY_CODE if town is None else town["code"],
                "county" if town is None else "town",
                town_id=None if town is None else int(dept.town_id),
                department_id=int(dept.id),
            )
        )
    for team in teams.itertuples():
        grid = grids.loc[team.grid_id]
        village_id = int(grid["village_id"])
        town_id = int(villages.loc[village_id, "town_id"])
        members = orjson.loads(team.members) if isinstance(team.members, str) else team.members
        for k, member in enumerate(members, start=1):
            rows.append(
                _row(
                    f"m{team.id}-{k}",
                    member["name"],
                    Role.member,
                    grid["code"],
                    "grid",
                    town_id=town_id,
                    village_id=village_id,
                    grid_id=int(team.grid_id),
                    team_id=int(team.id),
                    phone=f"199{int(team.id):05d}{k:03d}",
                )
            )
    frame = pd.DataFrame(rows)
    for column in ("town_id", "village_id", "grid_id", "team_id", "department_id"):
        frame[column] = frame[column].astype("Int64")
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    return frame.assign(password_hash=password_hash, must_change_password=False, created_at=now)


def _row(
    login,
    name,
    role,
    area_code,
    level,
    town_id=None,
    village_id=None,
    grid_id=None,
    team_id=None,
    phone=None,
    department_id=None,
) -> dict:
    return {
        "login": login,
        "name": name,
        "phone": phone,
        "role": str(role),
        "area_code": area_code,
        "area_level": level,
        "town_id": town_id,
        "village_id": village_id,
        "grid_id": grid_id,
        "team_id": team_id,
        "department_id": department_id,
    }
