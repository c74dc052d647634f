"""The OpenAPI spec is a contract: schemathesis generates requests from it (thousands, valid
and invalid) against the live server on a county of its own, once per role, and checks every
answer — no 5xx, every status and content type documented, every body matching its schema.
The exact command is in the README; here each role has a time budget (FUZZ_SECONDS)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from citybrain.db.cluster import real_clock_env
from tests.utils.databases import clone_database, sibling
from tests.utils.keys import API_KEYS
from tests.utils.server import LiveServer, server_settings

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

SECONDS = int(os.environ.get("FUZZ_SECONDS", "40"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,"
CHECKS += "response_schema_conformance"


@pytest.fixture(scope="module")
def fuzzed(seeded: str) -> Iterator[LiveServer]:
    """A server on a county of its own (the fuzzer reports, assigns and imports)."""
    url = sibling(seeded, "_fuzz")
    clone_database(sibling(seeded, "_county"), url)
    # Without rate limits: the fuzzer is one caller asking thousands of times a minute.
    with LiveServer(server_settings(url)) as live:
        yield live


@pytest.mark.slow
@pytest.mark.parametrize("role", ["anonymous", "viewer", "dispatcher", "admin"])
def test_every_answer_keeps_to_the_spec(fuzzed: LiveServer, role: str, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "run",
        f"{fuzzed.url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-time",
        str(SECONDS),
        "--seed",
        "1",
        "--request-timeout",
        "30",
        "--exclude-path",
        "/events",  # a live stream never ends by itself
        "--no-color",
    ]
    if role != "anonymous":
        command += ["-H", f"Authorization: Bearer {API_KEYS[role]}"]
    # (the fuzzer is a client from outside, on the machine's own clock: under libfaketime,
    # which the suite is also run under, it never ends)
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=SECONDS + 240,
        cwd=tmp_path,
        env=real_clock_env(),
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    generated = re.search(r"(\d+) generated", out)
    assert generated and int(generated.group(1)) >= 500, out[-3000:]  # it did fuzz
