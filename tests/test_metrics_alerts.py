"""``citybrain_alerts_open``: the alerts not closed, by kind and status, sampled from the alerts
table by every process of ``citybrain serve`` (its worker and its dispatch process; the latest
sample of any live process answers), following alerts as they are raised, acknowledged,
dispatched and closed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import httpx
import psycopg

from citybrain.alerts import Detector
from citybrain.alerts.runner import run_detector
from citybrain.db.connection import libpq_conninfo
from citybrain.domain import AlertKind, AlertStatus
from tests.utils.county import SEED_END
from tests.utils.keys import auth
from tests.utils.metrics import matching, scrape
from tests.utils.serve import Serve

GAUGE = "citybrain_alerts_open"
AT_LEAST = 100
# Towns with 100 incidents or more in the 30 days to the seed's end: an alert each.
RULE = Detector.model_validate(
    {
        "id": "rule_test",
        "title": {"zh": "测试", "en": "test"},
        "kind": "rule",
        "rule": "count",
        "areas": "towns",
        "window_hours": 24 * 30,
        "at_least": AT_LEAST,
        "by_category": False,
    }
)


def in_table(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    """Every kind and every status but closed, counted here from the rows themselves."""
    rows = Counter(conn.execute("SELECT kind, status FROM citybrain.alerts").fetchall())
    return {
        (kind, status): rows[kind, status]
        for kind in ("scan", "ears", "rule")
        for status in ("new", "acknowledged", "dispatched")
    }


def gauges(client: httpx.Client) -> dict[tuple[str, str], float]:
    found = matching(scrape(client), GAUGE)
    keyed = {(dict(lb)["kind"], dict(lb)["status"]): v for lb, v in found.items()}
    assert len(keyed) == len(found), "one series per kind and status, whatever the processes"
    return keyed


def until_equal(client: httpx.Client, expected: dict, timeout: float = 30) -> None:
    """The processes sample every 5 s: wait for a sample taken after the change."""
    deadline = time.monotonic() + timeout
    while (seen := gauges(client)) != expected:
        assert time.monotonic() < deadline, f"{seen} != {expected}"
        time.sleep(0.25)


def test_open_alerts_by_kind_and_status(fresh_county: str) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        (busy,) = conn.execute(
            "SELECT count(*) FROM (SELECT ch.town_id FROM citybrain.incidents i "
            "JOIN citybrain.micro_grid_chain ch USING (micro_grid_id) "
            "WHERE i.reported_at >= %s AND i.reported_at < %s "
            "GROUP BY 1 HAVING count(*) >= %s) t",
            [SEED_END - timedelta(days=30), SEED_END, AT_LEAST],
        ).fetchone()
        assert busy >= 3
        assert run_detector(conn, RULE, SEED_END).raised == busy
        raised = in_table(conn)
        assert raised["rule", "new"] == busy == sum(raised.values())
        ids = [r[0] for r in conn.execute("SELECT id FROM citybrain.alerts ORDER BY id")]
        # The gauge's label values are the domain's: every kind, every status but closed.
        assert {k for k, _ in raised} == {str(k) for k in AlertKind}
        assert {s for _, s in raised} == {str(s) for s in AlertStatus} - {"closed"}
        with (
            Serve(fresh_county, workers=1) as served,
            httpx.Client(base_url=served.url, timeout=30) as client,
            httpx.Client(base_url=served.dispatch_url, timeout=30) as dispatch,
        ):
            until_equal(client, raised)
            for action, alert in (("ack", ids[0]), ("dispatch", ids[1]), ("close", ids[2])):
                r = dispatch.post(f"/alerts/{alert}/{action}", headers=auth("dispatcher"))
                assert r.status_code == 200, r.text
            moved = in_table(conn)
            assert moved["rule", "new"] == raised["rule", "new"] - 3
            assert (moved["rule", "acknowledged"], moved["rule", "dispatched"]) == (1, 1)
            until_equal(client, moved)  # the closed one counted nowhere
            # Every process samples the same rows: the series carry no pid.
            assert all("pid" not in dict(lb) for lb in matching(scrape(client), GAUGE))
