"""Log lines of ``citybrain serve`` (``CITYBRAIN_LOG_FORMAT=json``): one JSON object a line,
each line of a request carrying its id (``X-Request-ID``, kept when sane, made otherwise, and
echoed), the access log's included; no key in any line."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.utils.keys import API_KEYS, auth
from tests.utils.serve import Serve


@pytest.fixture(scope="module")
def served(seeded: str):
    with Serve(seeded, workers=1, CITYBRAIN_LOG_FORMAT="json", CITYBRAIN_ACCESS_LOG="true") as s:
        yield s


def _records(served: Serve, request_id: str, want: int) -> list[dict]:
    """The log records of a request, waiting for them to be written."""
    deadline = time.monotonic() + 10
    while True:
        records = [json.loads(line) for line in served.lines()]  # every line is JSON
        found = [r for r in records if r.get("request_id") == request_id]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_request_id_kept_echoed_and_logged(served: Serve) -> None:
    with httpx.Client(base_url=served.dispatch_url, timeout=30) as c:
        r = c.get("/teams/1", headers={**auth("dispatcher"), "X-Request-ID": "desk-7.req:0042"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "desk-7.req:0042"
    (access,) = _records(served, "desk-7.req:0042", 1)
    assert access["logger"] == "uvicorn.access" and access["level"] == "INFO"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/teams/1", 200)
    text = served.log.read_text()
    assert not any(key in text for key in API_KEYS.values())  # keys never logged


@pytest.mark.parametrize("sent", [None, "has space", "x" * 129, 'quote"and\\back', "<b>id</b>"])
def test_request_id_made_when_absent_or_unsafe(served: Serve, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    with httpx.Client(base_url=served.url, timeout=30) as c:
        r = c.get("/livez", headers=headers)
    made = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made) and made != sent
    (access,) = _records(served, made, 1)
    assert access["path"] == "/livez" and access["status"] == 200
    if sent is not None:  # the unsafe id itself is never written
        assert sent not in served.log.read_text()


def test_every_line_is_json_with_time_and_level(served: Serve) -> None:
    records = [json.loads(line) for line in served.lines()]
    assert any(
        r["logger"].startswith("uvicorn") and "Application startup" in r["message"] for r in records
    )
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in records)
