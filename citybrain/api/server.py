"""Running the API: uvicorn, in several worker processes when asked, each listening on its own
``SO_REUSEPORT`` socket so that the kernel spreads connections across workers by hash.

(With one shared socket, as ``uvicorn --workers`` does, whichever worker wakes first accepts:
under load one worker hoards the long-lived keep-alive connections of a client pool while the
other idles; measured 11 of 16 connections on one of two workers, and tail latencies of
hundreds of milliseconds.)
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys

import uvicorn

APP = "citybrain.api.main:create_app"
GRACE_S = 5  # live event streams stay open: close them this long after a shutdown begins


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def proxies(forwarded_allow_ips: str) -> dict:
    """uvicorn's options for trusting X-Forwarded-For from ``forwarded_allow_ips`` (empty:
    from nobody)."""
    if not forwarded_allow_ips.strip():
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips}


def _worker(host: str, port: int, access_log: bool, forwarded: str) -> None:
    config = uvicorn.Config(
        APP,
        factory=True,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=GRACE_S,
        **proxies(forwarded),
    )
    uvicorn.Server(config).run(sockets=[_socket(host, port)])


def run(
    host: str, port: int, workers: int = 1, access_log: bool = False, forwarded: str = "127.0.0.1"
) -> None:
    if workers <= 1:
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            access_log=access_log,
            timeout_graceful_shutdown=GRACE_S,
            **proxies(forwarded),
        )
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(host, port, access_log, forwarded), daemon=False)
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()

    def stop(*_: object) -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # One worker failing means the service is not what was asked for: stop all, exit non-zero,
    # and let the supervisor (systemd, docker) restart it.
    sentinels = {proc.sentinel: proc for proc in procs}
    multiprocessing.connection.wait(list(sentinels))
    stop()
    for proc in procs:
        proc.join(timeout=30)
    sys.exit(max(abs(proc.exitcode or 0) for proc in procs))
