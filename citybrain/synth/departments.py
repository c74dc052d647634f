"""The synthetic county's departments (三级联动): in each town its four platforms
(``domain.TOWN_PLATFORMS``: 综治工作, 综合执法, 市场监管, 便民服务), and the county's departments
(``domain.COUNTY_DEPARTMENTS``). Codes are ``<town code>-<suffix>`` and ``330421-<suffix>``;
each has one staff account (``synth.people``: ``h-<code>``, role handler)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from citybrain.domain import (
    COUNTY_CODE,
    COUNTY_DEPARTMENTS,
    TOWN_PLATFORMS,
    DepartmentKind,
)
from citybrain.synth.hierarchy import Hierarchy


def make_departments(h: Hierarchy) -> pd.DataFrame:
    """Rows of ``citybrain.departments`` (ids from 1): the towns' platforms, then the county's."""
    rows = []
    for town_id, town in h.towns.frame.set_index("id").iterrows():
        for plan in TOWN_PLATFORMS:
            rows.append(
                {
                    "code": f"{town['code']}-{plan.code}",
                    "name": f"{town['name']}{plan.name}",
                    "kind": str(DepartmentKind.platform),
                    "town_id": int(town_id),
                    "categories": plan.categories,
                }
            )
    for plan in COUNTY_DEPARTMENTS:
        rows.append(
            {
                "code": f"{COUNTY_CODE}-{plan.code}",
                "name": plan.name,
                "kind": str(DepartmentKind.county),
                "town_id": None,
                "categories": plan.categories,
            }
        )
    frame = pd.DataFrame(rows)
    frame["town_id"] = frame["town_id"].astype("Int64")
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    return frame


def as_rows(departments: pd.DataFrame) -> pd.DataFrame:
    """The frame as COPY takes it (categories as an array literal)."""
    return departments.assign(categories=departments["categories"].map(_array))


def _array(values) -> str:
    return "{" + ",".join(values) + "}"
