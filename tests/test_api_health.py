"""The server answers over real HTTP, and errors come back as JSON."""

from __future__ import annotations

import httpx

from citybrain.db.migrate import head_revision
from tests.utils.county import N_INCIDENTS
from tests.utils.keys import auth


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz", headers=auth("viewer"))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] is True
    assert body["postgis"].startswith("3.")
    assert body["schema_revision"] == head_revision()
    assert body["incidents"] == N_INCIDENTS


def test_healthz_tells_the_public_only_that_it_is_up(client: httpx.Client) -> None:
    """Versions and counts are for keyed callers: anonymous callers, public displays and a
    key the server does not hold (counted as anonymous, never refused here) learn only that
    the service and its database answer."""
    for headers in ({}, auth("display"), {"Authorization": "Bearer not-a-key-000000000000"}):
        r = client.get("/healthz", headers=headers)
        assert r.status_code == 200 and r.json() == {"status": "ok", "database": True}


def test_unknown_path_is_json_404(client: httpx.Client) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"code": "not_found", "detail": "Not Found"}


def test_openapi_is_served(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/healthz" in spec["paths"]


def test_wrong_method_is_json_405_with_allow(client: httpx.Client) -> None:
    r = client.delete("/locate")
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert r.json()["code"] == "method_not_allowed"


def test_openapi_documents_the_error_answers(client: httpx.Client) -> None:
    """Clients generated from the spec know every error status and its body."""
    spec = client.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/ApiError"}

    def documented(path: str, method: str) -> dict[str, dict]:
        answers = spec["paths"][path][method]["responses"]
        return {
            s: a["content"]["application/json"]["schema"] for s, a in answers.items() if s >= "4"
        }

    everywhere = ["400", "404", "413", "422", "429", "503"]  # bounds and limits apply to all
    assert documented("/locate", "get") == dict.fromkeys(everywhere, error)
    assert set(documented("/incidents/{incident_id}/assign", "post")) == {
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
        "429",
        "503",
    }
    assert set(spec["components"]["schemas"]["ApiError"]["properties"]) == {"code", "detail"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # not our 422's shape


def test_liveness_and_readiness(client: httpx.Client) -> None:
    """/livez asks nothing of the database; /readyz does (tests/test_faults.py stops the
    database and sees 200 and 503)."""
    assert client.get("/livez").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}
    assert client.get("/healthz").json()["database"] is True
