"""Reading ``/metrics`` in a test: every sample, parsed by prometheus-client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.utils.keys import auth

Samples = dict[tuple[str, frozenset], float]


def scrape(client: httpx.Client, role: str = "viewer") -> Samples:
    """Every sample of ``/metrics``, by (sample name, its labels)."""
    r = client.get("/metrics", headers=auth(role))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent: a counter not yet moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: Samples, name: str, **labels: str) -> dict[frozenset, float]:
    """The samples ``name`` whose labels include ``labels``, by their labels."""
    want = set(labels.items())
    return {lb: v for (n, lb), v in samples.items() if n == name and want <= lb}


def requests(samples: Samples, route: str, method: str = "GET", status: int = 200) -> float:
    return value(
        samples, "citybrain_http_requests_total", route=route, method=method, status=str(status)
    )
