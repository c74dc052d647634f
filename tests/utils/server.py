"""citybrain served by uvicorn on a loopback port for a test, and the settings the shared test
servers run with."""

from __future__ import annotations

import functools
import random
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from citybrain.settings import Settings
from tests.utils.keys import API_KEYS_SETTING


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> int:
    """The first of ``n`` consecutive loopback ports free now (a cluster and its standbys, on
    port, port + 1, ...), taken below the kernel's ephemeral range: a port picked inside it
    may become some connection's own port before the server binds it (a standby of the
    replica tests once failed to start so)."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    below = min(int(ephemeral[0]), 32768)
    rng = random.Random()
    for _ in range(500):
        first = rng.randrange(20000, below - n)
        try:
            for port in range(first, first + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {n} consecutive free ports below {below}")


@functools.cache
def _photo_dir() -> str:
    """The test servers' photo store: a directory of this test process's own."""
    return tempfile.mkdtemp(prefix="citybrain-photos-")


def server_settings(url: str, **overrides) -> Settings:
    """The shared test servers' settings: the test keys, and no rate limits (the tests ask
    thousands of times a minute from one address; tests/test_ratelimit.py tests the limits)."""
    return Settings(
        **{
            "database_url": url,
            "api_keys": API_KEYS_SETTING,
            "rate_limit": "",
            "rate_limit_keyed": "",
            "photo_dir": _photo_dir(),
        }
        | overrides
    )


class LiveServer:
    """citybrain served by uvicorn on a loopback port, in a background thread."""

    def __init__(self, settings: Settings, port: int | None = None, lane: str = "public"):
        from citybrain.api.main import create_app
        from citybrain.api.protocol import uvicorn_options
        from citybrain.api.server import proxies

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, lane=lane)  # lane: public workers or the dispatch process
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,  # event streams never end by themselves
            **proxies(settings.forwarded_allow_ips),
            **uvicorn_options(settings),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.thread.is_alive():
            raise RuntimeError("server did not stop")

    def client(self, timeout: float = 30) -> httpx.Client:
        """HTTP to this server (close it, or use it in a ``with``)."""
        return httpx.Client(base_url=self.url, timeout=timeout)
