"""The wire, bounded before any request exists (``api.protocol``): oversized headers get 431
after the limit, not after being read; headers and bodies that dribble in get 408; idle
sockets are closed. And live streams are shared out per client (``/events``: 429)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.utils.keys import auth
from tests.utils.serve import Serve
from tests.utils.server import LiveServer, server_settings

LIMITS = {"max_header_kb": 16, "header_timeout_s": 2.0, "body_timeout_s": 2.0}


@pytest.fixture(scope="module")
def bounded(seeded) -> Iterator[LiveServer]:
    settings = server_settings(seeded, **LIMITS, max_event_streams_per_client=3)
    with LiveServer(settings) as live:
        yield live


def _connect(live: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", live.port), timeout=10)


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of what the server sends before it closes."""
    data = b""
    sock.settimeout(10)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_huge_header_is_refused_at_the_limit(bounded: LiveServer) -> None:
    """1 MB of Authorization: 431 naming the limit, sent while the client is still sending,
    i.e. after at most 16 KB were read."""
    sock = _connect(bounded)
    sock.sendall(b"GET /teams/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ")
    sent, refused_early = 0, False
    try:
        while sent < 1 << 20:
            sock.sendall(b"x" * 4096)
            sent += 4096
    except (BrokenPipeError, ConnectionResetError):
        refused_early = True
    status, body = _answer(sock)
    sock.close()
    assert status == 431 and b"header_too_large" in body and b"16 KB" in body
    assert refused_early or sent == 1 << 20  # (the kernel's buffers may hold the rest)


def test_headers_under_the_limit_pass(bounded: LiveServer) -> None:
    with httpx.Client(base_url=bounded.url) as c:
        r = c.get("/teams/1", headers={"X-Pad": "y" * (15 * 1024 - 200)})
        assert r.status_code == 200 and r.json()["id"] == 1
        r = c.get("/teams/1", headers={"X-Pad": "y" * (17 * 1024)})
        assert r.status_code == 431 and r.json()["code"] == "header_too_large"


def test_a_slow_header_is_cut_off(bounded: LiveServer) -> None:
    """One byte every half second (slowloris): 408 when the header time is up, not later."""
    sock = _connect(bounded)
    started = time.monotonic()
    request = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 100
    try:
        for byte in request:
            sock.sendall(bytes([byte]))
            time.sleep(0.5)
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, body = _answer(sock)
    sock.close()
    assert status == 408 and b"CITYBRAIN_HEADER_TIMEOUT_S" in body
    assert LIMITS["header_timeout_s"] <= time.monotonic() - started < 6


def test_an_idle_socket_is_closed(bounded: LiveServer) -> None:
    sock = _connect(bounded)
    started = time.monotonic()
    status, _ = _answer(sock)
    sock.close()
    assert status == 408 and time.monotonic() - started < 6


def test_a_dripped_body_is_cut_off_and_a_steady_one_passes(bounded: LiveServer) -> None:
    body = b'{"lon": 120.9119, "lat": 30.8502, "category": "\xe6\xb2\xbb\xe5\xae\x89"}'
    head = (
        "POST /dispatch/recommend HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {auth('viewer')['Authorization']}\r\n"
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    )
    # Dripped: 100 KB announced, 10 bytes every half second.
    sock = _connect(bounded)
    sock.sendall(head.format(100_000).encode())
    started = time.monotonic()
    try:
        for _ in range(20):
            sock.sendall(b" " * 10)
            time.sleep(0.5)
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, answer = _answer(sock)
    sock.close()
    assert status == 408 and b"CITYBRAIN_BODY_TIMEOUT_S" in answer
    assert time.monotonic() - started < 6
    # Steady and slow but not stalled: 2 KB a second for three seconds, then the JSON.
    padded = b" " * 6000 + body
    sock = _connect(bounded)
    sock.sendall(head.format(len(padded)).encode())
    for i in range(0, 6000, 2000):
        sock.sendall(padded[i : i + 2000])
        time.sleep(1)
    sock.sendall(padded[6000:])
    data = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    sock.close()
    assert data.startswith(b"HTTP/1.1 200")


def test_dispatch_answers_while_the_wire_is_attacked(bounded: LiveServer) -> None:
    """Four 1 MB headers and twenty slow sockets at once: every one is cut off by its limit,
    and a dispatcher's requests meanwhile all succeed (their latency is bench/wire.py's)."""
    stop = threading.Event()

    def slow() -> None:
        sock = _connect(bounded)
        try:
            sock.sendall(b"GET /livez HTTP/1.1\r\n")
            while not stop.is_set():
                sock.sendall(b"X")
                time.sleep(0.5)
        except OSError:
            pass
        finally:
            sock.close()

    def huge() -> None:
        sock = _connect(bounded)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nAuthorization: ")
            for _ in range(256):
                sock.sendall(b"x" * 4096)
        except OSError:
            pass
        finally:
            sock.close()

    attackers = [threading.Thread(target=slow) for _ in range(20)]
    attackers += [threading.Thread(target=huge) for _ in range(4)]
    for t in attackers:
        t.start()
    try:
        with httpx.Client(base_url=bounded.url, headers=auth("dispatcher")) as c:
            codes = [c.get("/teams/1").status_code for _ in range(100)]
        assert codes == [200] * 100
    finally:
        stop.set()
        for t in attackers:
            t.join(timeout=10)
    assert not any(t.is_alive() for t in attackers)


def test_live_streams_are_shared_out_per_client(bounded: LiveServer) -> None:
    """At most 3 streams (this server's setting) per address without a key and per key: the
    next gets 429 with Retry-After; another client still gets one; a closed stream frees its
    place."""
    clients = [httpx.Client(base_url=bounded.url, timeout=10) for _ in range(5)]
    streams = []
    try:
        for c in clients[:3]:
            cm = c.stream("GET", "/events")
            r = cm.__enter__()
            assert r.status_code == 200
            streams.append(cm)
        r = clients[3].get("/events")
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests"
        assert int(r.headers["retry-after"]) > 0 and "3 live streams" in r.json()["detail"]
        keyed = clients[3].stream("GET", "/events", headers=auth("viewer"))
        assert keyed.__enter__().status_code == 200  # a key is a client of its own
        streams.append(keyed)
        streams.pop(0).__exit__(None, None, None)
        deadline = time.monotonic() + 5
        while True:
            cm = clients[4].stream("GET", "/events")
            r = cm.__enter__()
            streams.append(cm)
            if r.status_code == 200:
                break
            assert r.status_code == 429 and time.monotonic() < deadline, "not freed"
            time.sleep(0.1)
    finally:
        for cm in streams:
            cm.__exit__(None, None, None)
        for c in clients:
            c.close()


def test_citybrain_serve_bounds_the_wire_on_both_ports(seeded: str) -> None:
    """As deployed (``citybrain serve``, ``api.server``), not only in the tests' servers: a
    header past CITYBRAIN_MAX_HEADER_KB is refused by the protocol (431, before any
    middleware could answer) on the public port and on the dispatch port alike."""
    with Serve(seeded, workers=1, CITYBRAIN_MAX_HEADER_KB="8") as serve:
        for url in (serve.url, serve.dispatch_url):
            small = httpx.get(f"{url}/livez", headers={"X-Pad": "x" * 6000}, timeout=10)
            assert small.status_code == 200
            big = httpx.get(f"{url}/livez", headers={"X-Pad": "x" * 10_000}, timeout=10)
            assert big.status_code == 431, (url, big.status_code, big.text)
            assert big.json()["code"] == "header_too_large" and "8 KB" in big.json()["detail"]
