"""Rate limits per client address (no key) and per key: 429 with ``Retry-After`` past the
limit, health checks never limited, a key the server does not hold counted as its address,
and ``X-Forwarded-For`` believed only from a proxy the settings name (by default none)."""

from __future__ import annotations

import random

import httpx
import pydantic
import pytest

from citybrain.settings import Settings
from tests.utils.keys import API_KEYS_SETTING, auth
from tests.utils.server import LiveServer


def _server(seeded: str, **limits: str) -> LiveServer:
    limits = {"rate_limit": "5/minute", "rate_limit_keyed": "8/minute", **limits}
    settings = Settings(database_url=seeded, api_keys=API_KEYS_SETTING, **limits)
    return LiveServer(settings)


def _codes(api: httpx.Client, n: int, **kw) -> list[int]:
    return [api.get("/collections", **kw).status_code for _ in range(n)]


def test_addresses_and_keys_have_their_own_limits(seeded: str) -> None:
    with _server(seeded) as live, live.client() as api:
        assert _codes(api, 6) == [200] * 5 + [429]
        r = api.get("/collections")
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests"
        assert "5 requests per minute from this address" in r.json()["detail"]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert api.get("/healthz").status_code == 200  # never limited
        # a key the server does not hold is its address: limited, before its 401
        assert (
            api.get("/collections", headers={"Authorization": "Bearer " + "x" * 24}).status_code
            == 429
        )
        # keys count on their own, each by itself
        viewer, dispatcher = auth("viewer"), auth("dispatcher")
        assert _codes(api, 9, headers=viewer) == [200] * 8 + [429]
        r = api.get("/collections", headers=viewer)
        assert "8 requests per minute from this key" in r.json()["detail"]
        assert _codes(api, 8, headers=dispatcher) == [200] * 8


def test_a_trusted_proxy_names_the_client(seeded: str) -> None:
    behind = {"X-Forwarded-For": "10.20.30.40"}
    # A proxy on the loopback, named in the settings: each client it names counts alone
    with _server(seeded, forwarded_allow_ips="127.0.0.1") as live, live.client() as api:
        assert _codes(api, 6) == [200] * 5 + [429]
        assert _codes(api, 6, headers=behind) == [200] * 5 + [429]
        assert _codes(api, 1, headers={"X-Forwarded-For": "10.20.30.41"}) == [200]
    # no proxy trusted: the header is the client's own claim and changes nothing
    with (
        _server(seeded, forwarded_allow_ips="") as live,
        live.client() as api,
    ):
        assert _codes(api, 5) == [200] * 5
        assert _codes(api, 1, headers=behind) == [429]


def test_by_default_no_forwarded_address_is_believed(seeded: str) -> None:
    """Any local process could otherwise be a crowd: 300 requests from 127.0.0.1, each naming
    another client in X-Forwarded-For, are one client, limited at the anonymous limit."""
    assert Settings().forwarded_allow_ips == ""
    draw = random.Random(29)
    with _server(seeded, rate_limit="100/minute") as live, live.client() as api:
        codes = [
            api.get(
                "/conformance",
                headers={"X-Forwarded-For": ".".join(str(draw.randint(1, 254)) for _ in range(4))},
            ).status_code
            for _ in range(300)
        ]
    assert codes == [200] * 100 + [429] * 200


def test_limits_can_be_lifted_and_bad_ones_are_refused(seeded: str) -> None:
    with _server(seeded, rate_limit="") as live, live.client() as api:
        assert _codes(api, 30) == [200] * 30
    with pytest.raises(pydantic.ValidationError, match="is not a rate limit"):
        Settings(rate_limit="lots")
