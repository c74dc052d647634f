"""The recipe for a detector kind of one's own (docs/architecture.md), followed to the letter: a
class in this module registered under a new ``kind:``, a file of that kind in an alerts
directory of the test's own, ``citybrain alerts run`` in a process that imports this module
because ``CITYBRAIN_ALERTS_MODULES`` names it, and the alerts it raised stored, listed by
``citybrain alerts list`` and served by ``GET /alerts``, each compound and incident checked
against a count made here from the raw incidents. Also what the registry refuses."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import psycopg
import pytest
from pydantic import Field, model_validator

from citybrain.alerts import (
    KINDS,
    Detector,
    DetectorConfigError,
    Finding,
    Run,
    load_detectors,
    register,
)
from citybrain.db.connection import libpq_conninfo
from citybrain.domain import AlertKind
from tests.utils.cli import citybrain
from tests.utils.county import SEED_END
from tests.utils.server import LiveServer, server_settings

REPO = Path(__file__).resolve().parents[1]
MODULE = __name__  # tests.test_alert_kinds: what CITYBRAIN_ALERTS_MODULES names

SEVERE = """
SELECT ch.compound_id, count(*), array_agg(i.id ORDER BY i.id)
FROM citybrain.incidents i JOIN citybrain.micro_grid_chain ch USING (micro_grid_id)
WHERE i.reported_at >= %(start)s AND i.reported_at < %(now)s AND i.severity >= %(severity)s
  AND (%(categories)s::text[] IS NULL OR i.category = ANY (%(categories)s::text[]))
GROUP BY 1 HAVING count(*) >= %(at_least)s
ORDER BY 2 DESC, 1
"""


@register("severe")
class Severe(Detector):
    """``at_least`` incidents of severity ``min_severity`` or more in one compound within
    ``window_hours`` (every category together)."""

    family: ClassVar[AlertKind] = AlertKind.rule
    window_hours: int = Field(24, ge=1, le=24 * 31)
    min_severity: int = Field(3, ge=1, le=4)
    at_least: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _compounds(self) -> Severe:
        if self.areas != "compounds":
            raise ValueError("severe: areas must be compounds")
        return self

    @property
    def longest_window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    def analyses(self) -> list[tuple[str | None, list[str] | None]]:
        return [(None, self.categories)]

    def analyse(self, run: Run, label: str | None, categories: list[str] | None) -> list[Finding]:
        start = run.now - self.longest_window
        rows = run.conn.execute(
            SEVERE,
            {
                "start": start,
                "now": run.now,
                "severity": self.min_severity,
                "categories": categories,
                "at_least": self.at_least,
            },
        ).fetchall()
        return [
            run.finding(
                label,
                [compound],
                observed=n,
                expected=None,
                statistic=float(n),
                window_start=start,
                window_end=run.now,
                incident_ids=list(ids),
                summary=f"{n} incidents of severity {self.min_severity}+ within "
                f"{self.window_hours} h (the rule: {self.at_least} or more)",
            )
            for compound, n, ids in rows
        ]


def severe_by_compound(
    conn: psycopg.Connection, start: datetime, end: datetime, severity: int
) -> dict[str, list[int]]:
    """The oracle: each compound's code → the ids of its incidents of at least ``severity``
    reported in [start, end), counted here from every incident's raw row."""
    rows = conn.execute(
        "SELECT c.code, i.id, i.severity, i.reported_at FROM citybrain.incidents i "
        "JOIN citybrain.micro_grids m ON m.id = i.micro_grid_id "
        "JOIN citybrain.compounds c ON c.id = m.compound_id"
    ).fetchall()
    found: dict[str, list[int]] = defaultdict(list)
    for code, incident, level, at in rows:
        if level >= severity and start <= at < end:
            found[code].append(incident)
    return {code: sorted(ids) for code, ids in found.items()}


def test_a_kind_of_ones_own_raises_alerts_through_the_runner(
    fresh_county: str, tmp_path: Path
) -> None:
    window_hours, severity = 24 * 30, 3
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        before = severe_by_compound(
            conn, SEED_END - timedelta(hours=window_hours), SEED_END, severity
        )
        at_least = sorted((len(ids) for ids in before.values()), reverse=True)[2]
        assert at_least >= 2  # (a threshold a single incident cannot reach)
        (tmp_path / "severe_test.yaml").write_text(
            "id: severe_test\ntitle: {zh: 严重警情聚集, en: Severe incidents gathering}\n"
            f"kind: severe\nareas: compounds\nwindow_hours: {window_hours}\n"
            f"min_severity: {severity}\nat_least: {at_least}\nevery: 1h\n",
            encoding="utf-8",
        )
        env = {
            "CITYBRAIN_ALERTS_DIR": str(tmp_path),
            "CITYBRAIN_ALERTS_MODULES": MODULE,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        # Without the module the kind is unknown, and the command says where kinds come from.
        unknown = citybrain(
            fresh_county, "alerts", "run", env=env | {"CITYBRAIN_ALERTS_MODULES": ""}
        )
        assert unknown.returncode != 0
        assert "unknown kind 'severe'" in unknown.stderr
        assert "CITYBRAIN_ALERTS_MODULES" in unknown.stderr
        assert conn.execute("SELECT count(*) FROM citybrain.detector_runs").fetchone() == (0,)

        ran = citybrain(fresh_county, "alerts", "run", env=env)
        assert ran.returncode == 0, ran.stderr
        (now,) = conn.execute(
            "SELECT started_at FROM citybrain.detector_runs WHERE detector = 'severe_test'"
        ).fetchone()
        # The oracle at the run's own time (the tests' clock has moved on since the seed's end).
        expected = {
            code: ids
            for code, ids in severe_by_compound(
                conn, now - timedelta(hours=window_hours), now, severity
            ).items()
            if len(ids) >= at_least
        }
        assert len(expected) >= 2
        stored = conn.execute(
            "SELECT area_codes, observed, incident_ids, kind, level, status, active "
            "FROM citybrain.alerts WHERE detector = 'severe_test'"
        ).fetchall()
        assert {tuple(r[0]): (r[1], sorted(r[2])) for r in stored} == {
            (code,): (len(ids), ids) for code, ids in expected.items()
        }
        assert {(r[3], r[4], r[5], r[6]) for r in stored} == {("rule", "compounds", "new", True)}

        listed = citybrain(fresh_county, "alerts", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert listed.stderr.count(f"severity {severity}+ within") == len(expected)

    settings = server_settings(fresh_county, alerts_dir=tmp_path, alerts_modules=MODULE)
    with LiveServer(settings) as live, live.client() as api:
        served = api.get("/alerts", params={"detector": "severe_test"}).json()
        assert {a["area_codes"][0]: a["observed"] for a in served} == {
            code: len(ids) for code, ids in expected.items()
        }
        assert {a["kind"] for a in served} == {"rule"}
        one = served[0]
        detail = api.get(f"/alerts/{one['id']}").json()
        assert sorted(i["id"] for i in detail["incident_list"]) == expected[one["area_codes"][0]]
        assert all(i["severity"] >= severity for i in detail["incident_list"])


def test_the_file_picks_the_registered_class() -> None:
    title = {"zh": "测", "en": "t"}
    severe = Detector.model_validate(
        {"id": "s", "title": title, "kind": "severe", "areas": "compounds", "at_least": 4}
    )
    assert type(severe) is Severe and severe.key == ("severe", None)
    assert severe.longest_window == timedelta(hours=24)
    # Its fields are its own: another kind's field is refused, and so is its own out of range.
    for wrong, field in (({"replications": 999}, "replications"), ({"min_severity": 5}, "min")):
        with pytest.raises(ValueError, match=field):
            Detector.model_validate({"id": "s", "title": title, "kind": "severe"} | wrong)
    with pytest.raises(ValueError, match="areas must be compounds"):
        Detector.model_validate({"id": "s", "title": title, "kind": "severe", "areas": "towns"})


def test_the_registry_refuses_what_would_be_ambiguous(tmp_path: Path) -> None:
    held = dict(KINDS)
    try:
        with pytest.raises(ValueError, match="already .*Severe's"):

            @register("severe")
            class Another(Severe):
                pass

        with pytest.raises(ValueError, match="kind rule has rules"):

            @register("rule")
            class Bare(Severe):
                pass

        with pytest.raises(TypeError, match="set family"):

            @register("familyless")
            class Familyless(Detector):
                pass

        assert held == KINDS
        with pytest.raises(DetectorConfigError, match="cannot import no_such_module"):
            load_detectors(tmp_path, ["no_such_module"])
    finally:
        KINDS.clear()
        KINDS.update(held)
