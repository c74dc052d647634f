"""Open311 GeoReport v2 at /open311/v2/ (issue 32, intake from every channel), driven by two
clients the project did not write: ``georeport`` (services and requests, JSON and XML) and
``civicbot``'s ``Open311Client`` (which posts). What they read back is checked against the
database; the answers' fields against the specification's lists."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest
import xmltodict
from civicbot.http import HttpError, HttpTransport, RateLimiter
from civicbot.open311 import Open311Client
from civicbot.registry import Endpoint
from georeport import GeoReport

from citybrain.domain import CATEGORIES
from tests.utils.county import point_in
from tests.utils.keys import API_KEYS, auth

# The fields the specification gives each answer (http://wiki.open311.org/GeoReport_v2).
SERVICE = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url",
}  # fmt: skip


def _root(server) -> str:
    return f"{server.url}/open311/v2"


def _poster(server) -> Open311Client:
    endpoint = Endpoint("citybrain", "test county", _root(server), write=True)
    return Open311Client(endpoint, HttpTransport(rate_limiter=RateLimiter(min_interval=0)))


def test_services_in_both_formats(server) -> None:
    for fmt in ("json", "xml"):
        listed = GeoReport(_root(server), output_format=fmt).get_service_list()
        assert [s["service_code"] for s in listed] == [c.slug for c in CATEGORIES]
        assert [s["service_name"] for s in listed] == [c.name for c in CATEGORIES]
        assert all(set(s) == SERVICE for s in listed)
        metadata = {str(s["metadata"]).lower() for s in listed}
        assert metadata == {"false"}
        definition = GeoReport(_root(server), output_format=fmt).get_service_definition(
            "public_order"
        )
        assert definition["service_code"] == "public_order"


def test_discovery_in_both_formats(client: httpx.Client) -> None:
    as_json = client.get("/open311/v2/discovery.json").json()
    as_xml = xmltodict.parse(client.get("/open311/v2/discovery.xml").content)["discovery"]
    for found in (as_json, as_xml):
        endpoint = found["endpoints"]
        endpoint = endpoint[0] if isinstance(endpoint, list) else endpoint["endpoint"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"].endswith("/open311/v2")
    assert as_json["endpoints"][0]["formats"] == ["application/json", "text/xml"]
    assert as_xml["endpoints"]["endpoint"]["formats"]["format"] == ["application/json", "text/xml"]


def test_post_a_request_and_read_it_back(rw_server, rw_conn: psycopg.Connection) -> None:
    lon, lat = point_in(rw_conn, 5)
    made = _poster(rw_server).create_request(
        "environment",
        dry_run=False,
        confirm="SEND",
        api_key=API_KEYS["intake"],  # (a key that may report and nothing more)
        lat=lat,
        lng=lon,
        description="河道漂浮垃圾\x01",  # (a control character XML cannot hold)
        first_name="明",
        last_name="王",
        phone="13800000000",
    )
    (answer,) = made.response
    incident = int(answer["service_request_id"])
    row = rw_conn.execute(
        "SELECT i.category, i.source, i.status, ST_X(i.geom), ST_Y(i.geom), i.micro_grid_id, "
        "f.description, f.reporter_name, f.reporter_phone, "
        "citybrain.step_due(i.category, 'resolve', i.reported_at), i.reported_at "
        "FROM citybrain.incidents i JOIN citybrain.case_files f ON f.incident_id = i.id "
        "WHERE i.id = %s",
        [incident],
    ).fetchone()
    assert row[:9] == (
        "环境", "citizen_app", "reported", pytest.approx(lon), pytest.approx(lat), 5,
        "河道漂浮垃圾\x01", "王 明", "13800000000",
    )  # fmt: skip
    actor = rw_conn.execute(
        "SELECT actor FROM citybrain.incident_events WHERE incident_id = %s", [incident]
    ).fetchone()[0]
    assert actor.startswith("env-intake-")  # (the key, in the audit trail)
    # read back: by civicbot (JSON), and georeport in JSON and XML
    seen = [_poster(rw_server).get_request(incident)]
    for fmt in ("json", "xml"):
        client = GeoReport(_root(rw_server), output_format=fmt)
        seen.append(client.get_service_request(str(incident)))
    for got in seen:
        assert set(got) == REQUEST
        assert got["service_request_id"] == str(incident)
        assert (got["status"], got["service_code"], got["service_name"]) == (
            "open", "environment", "环境"
        )  # fmt: skip
        assert float(got["lat"]) == pytest.approx(lat) and float(got["long"]) == pytest.approx(lon)
        assert datetime.fromisoformat(got["expected_datetime"]) == row[9].replace(microsecond=0)
        assert datetime.fromisoformat(got["requested_datetime"]) == row[10].replace(microsecond=0)
    # the description is the case file's: not for anonymous callers, nor for the intake key
    # that reported it, which may read no case file and do nothing but report
    assert seen[0]["description"] is None
    with rw_server.client() as c:
        for role, description in (("intake", None), ("dispatcher", "河道漂浮垃圾\x01")):
            shown = c.get(f"/open311/v2/requests/{incident}.json", headers=auth(role))
            assert shown.json()[0]["description"] == description
        xml = c.get(f"/open311/v2/requests/{incident}.xml", headers=auth("dispatcher"))
        assert xmltodict.parse(xml.content)["service_requests"]["request"]["description"] == (
            "河道漂浮垃圾"
        )
        assert c.get(f"/incidents/{incident}", headers=auth("intake")).status_code == 403
        sent = c.post(f"/incidents/{incident}/escalate", json={}, headers=auth("intake"))
        assert sent.status_code == 403


def test_lists_are_the_databases(server, conn: psycopg.Connection) -> None:
    end = datetime.fromisoformat("2026-10-20T00:00:00+08:00")
    start = end - timedelta(days=30)
    want = {
        (str(i), "closed" if s == "closed" else "open")
        for i, s in conn.execute(
            "SELECT id, status FROM citybrain.incidents WHERE category = '治安' "
            "AND status IN ('closed') AND reported_at >= %s AND reported_at < %s",
            [start, end],
        )
    }
    client = GeoReport(_root(server))
    got = client.get_service_requests(
        service_code="public_order",
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        status="closed",
    )
    assert {(r["service_request_id"], r["status"]) for r in got} == want and want
    everything = client.get_service_requests(start_date=start.isoformat(), end_date=end.isoformat())
    n = conn.execute(
        "SELECT count(*) FROM citybrain.incidents WHERE reported_at >= %s AND reported_at < %s",
        [start, end],
    ).fetchone()[0]
    assert len(everything) == min(n, 1000)
    newest = [datetime.fromisoformat(r["requested_datetime"]) for r in everything]
    assert newest == sorted(newest, reverse=True)
    ids = [r["service_request_id"] for r in everything[:3]]
    assert [r["service_request_id"] for r in client.get_service_requests(",".join(ids))] == ids


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", 400,
         "at most 90 days"),
        ("/requests.xml?service_code=nope", 400, "unknown service_code"),
        ("/requests.json?status=pending", 400, "unknown status"),
        ("/requests.json?start_date=9999-12-31T00:00:00Z", 400, "out of range"),
        ("/requests.json?service_request_id=1,x", 400, "whole numbers"),
        ("/requests/999999999.json", 404, "no service request"),
        ("/services/nope.xml", 404, "no service"),
        ("/services.yaml", 404, "no format"),
    ],
)  # fmt: skip
def test_errors_in_the_specifications_shape(
    client: httpx.Client, path: str, status: int, says: str
) -> None:
    r = client.get(f"/open311/v2{path}")
    assert r.status_code == status
    if path.split("?")[0].endswith(".xml"):
        error = xmltodict.parse(r.content)["errors"]["error"]
        assert r.headers["content-type"].startswith("text/xml")
    else:
        (error,) = r.json()
    assert int(error["code"]) == status and says in error["description"]


def test_posting_needs_a_key_of_a_role_that_reports(rw_server, rw_conn) -> None:
    lon, lat = point_in(rw_conn, 6)
    before = rw_conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
    poster = _poster(rw_server)
    with pytest.raises(HttpError) as no_key:
        poster.http.post_form(
            f"{_root(rw_server)}/requests.json",
            {"service_code": "environment", "lat": lat, "long": lon},
        )
    assert no_key.value.status == 401
    for key, status in (("not-a-key-at-all-00000", 401), (API_KEYS["viewer"], 403)):
        with pytest.raises(HttpError) as refused:
            poster.create_request(
                "environment", dry_run=False, confirm="SEND", api_key=key, lat=lat, lng=lon
            )
        assert refused.value.status == status
        assert json.loads(refused.value.body)[0]["code"] == status
    with rw_server.client() as c:
        bad = [
            ({"service_code": "nope", "lat": lat, "long": lon}, "unknown service_code"),
            ({"service_code": "environment", "address_string": "魏塘街道"}, "lat and long"),
            ({"service_code": "environment", "lat": 95, "long": lon}, "not WGS84"),
            ({"service_code": "environment", "lat": 0.0, "long": 0.0}, "outside the county"),
        ]
        for form, says in bad:
            r = c.post("/open311/v2/requests.json", data={**form, "api_key": API_KEYS["admin"]})
            assert r.status_code == 400 and says in r.json()[0]["description"], r.text
    after = rw_conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
    assert after == before
