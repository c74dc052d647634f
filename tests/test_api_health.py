"""The server answers over real HTTP, and errors come back as JSON."""

from __future__ import annotations

import httpx

from citybrain.db.migrate import head_revision
from tests.conftest import N_INCIDENTS


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] is True
    assert body["postgis"].startswith("3.")
    assert body["schema_revision"] == head_revision()
    assert body["incidents"] == N_INCIDENTS


def test_unknown_path_is_json_404(client: httpx.Client) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"code": "not_found", "detail": "Not Found"}


def test_openapi_is_served(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/healthz" in spec["paths"]
