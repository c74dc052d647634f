"""Running the API: uvicorn, in several worker processes when asked, each listening on its own
``SO_REUSEPORT`` socket so that the kernel spreads connections across workers by hash.

(With one shared socket, as ``uvicorn --workers`` does, whichever worker wakes first accepts:
under load one worker hoards the long-lived keep-alive connections of a client pool while the
other idles; measured 11 of 16 connections on one of two workers, and tail latencies of
hundreds of milliseconds.)

With a dispatch port (``CITYBRAIN_DISPATCH_PORT``, default 8001) one more process serves dispatch
systems there: callers with a key only, with a connection pool of its own, at normal CPU
priority while the public workers run ``CITYBRAIN_PUBLIC_NICE`` lower. Anonymous floods of heavy
public reads then cost dispatch neither connections nor CPU time (``bench/isolation.py``).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

import uvicorn
from prometheus_client.multiprocess import mark_process_dead

from citybrain.metrics import MULTIPROC_ENV

APPS = {
    "public": "citybrain.api.main:create_app",
    "dispatch": "citybrain.api.main:create_dispatch_app",
}
GRACE_S = 5  # live event streams stay open: close them this long after a shutdown begins


@dataclass(frozen=True)
class Process:
    """One server process: which app (``public`` or ``dispatch``), on which port, how nice."""

    lane: str
    port: int
    nice: int = 0


def processes(port: int, workers: int, dispatch_port: int, public_nice: int) -> list[Process]:
    """``workers`` public processes on ``port``; with a dispatch port, one more process there,
    for callers with a key, at a higher CPU priority than the public ones (they yield the CPU
    to it: heavy public answers cannot take dispatch's CPU time)."""
    if not dispatch_port:
        return [Process("public", port)] * max(workers, 1)
    return [Process("public", port, public_nice)] * max(workers, 1) + [
        Process("dispatch", dispatch_port)
    ]


BACKLOG = 2048


def _socket(host: str, port: int) -> socket.socket:
    """The worker's own socket on the shared port, bound but not listening yet: uvicorn listens
    once the app's start-up is done, so the kernel hands a worker (a new one that replaces a
    dead one, too) no connection before it can answer it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def proxies(forwarded_allow_ips: str) -> dict:
    """uvicorn's options for trusting X-Forwarded-For from ``forwarded_allow_ips`` (empty:
    from nobody)."""
    if not forwarded_allow_ips.strip():
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips}


def _config(lane: str, access_log: bool, forwarded: str, **more) -> uvicorn.Config:
    from citybrain.api.logs import log_config
    from citybrain.api.protocol import uvicorn_options
    from citybrain.settings import get_settings

    settings = get_settings()
    return uvicorn.Config(
        APPS[lane],
        factory=True,
        access_log=access_log,
        log_config=log_config(settings.log_format),
        log_level="info",
        timeout_graceful_shutdown=GRACE_S,
        backlog=BACKLOG,
        **proxies(forwarded),
        **uvicorn_options(settings),  # the wire's limits (api.protocol)
        **more,
    )


def _worker(host: str, process: Process, access_log: bool, forwarded: str) -> None:
    if process.nice:
        os.nice(process.nice)  # lowering one's own priority needs no privilege
    config = _config(process.lane, access_log, forwarded)
    uvicorn.Server(config).run(sockets=[_socket(host, process.port)])


def run(
    host: str,
    port: int,
    workers: int = 1,
    access_log: bool = False,
    forwarded: str = "",
    dispatch_port: int = 0,
    public_nice: int = 10,
) -> None:
    plan = processes(port, workers, dispatch_port, public_nice)
    if len(plan) == 1:
        config = _config("public", access_log, forwarded, host=host, port=port)
        uvicorn.Server(config).run()
        return
    # Metrics of every process, whichever is scraped (citybrain.metrics): a fresh directory
    # for their files, known to the processes before they import prometheus-client.
    metrics_dir = tempfile.mkdtemp(prefix="citybrain-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        _supervise(plan, host, access_log, forwarded)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


# Workers that end this many times within RESTART_WINDOW_S: a misconfiguration (a port taken, a
# database refused), not a crash to ride out by starting them again.
RESTARTS = 5
RESTART_WINDOW_S = 60


def _supervise(plan: list[Process], host: str, access_log: bool, forwarded: str) -> None:
    import logging.config
    from collections import deque

    from citybrain.api.logs import log_config
    from citybrain.settings import get_settings

    logging.config.dictConfig(log_config(get_settings().log_format))
    log = logging.getLogger("citybrain.server")
    ctx = multiprocessing.get_context("spawn")

    def start(process: Process) -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_worker, args=(host, process, access_log, forwarded))
        proc.start()
        return proc

    procs = [start(p) for p in plan]
    asked: list[int] = []  # the signal that asked the service to stop, if one did

    def stop(*_: object) -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    def on_signal(signum: int, _frame: object) -> None:
        asked.append(signum)
        stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A worker that ends on its own (killed, out of memory, a crash) is replaced while the
    # others serve; RESTARTS ends within RESTART_WINDOW_S stop them all with the last one's
    # exit status, for the supervisor above (systemd, docker) to report.
    ended: deque[float] = deque(maxlen=RESTARTS)
    failed = 0
    while not asked and not failed:
        multiprocessing.connection.wait([proc.sentinel for proc in procs])
        for i, proc in enumerate(procs):
            if asked or failed or proc.exitcode is None:
                continue
            mark_process_dead(proc.pid)  # its live gauges (pool, streams) no longer count
            ended.append(time.monotonic())
            what = f"the {plan[i].lane} process on port {plan[i].port} (pid {proc.pid})"
            how = _ended(proc.exitcode)
            if len(ended) == RESTARTS and ended[-1] - ended[0] < RESTART_WINDOW_S:
                log.error(
                    "%s %s: %d ends within %d s, stopping", what, how, RESTARTS, RESTART_WINDOW_S
                )
                failed = abs(proc.exitcode or 0) or 1
            else:
                log.warning("%s %s: starting another", what, how)
                proc.close()  # (its sentinel's descriptor)
                procs[i] = start(plan[i])
    stop()
    # Each process has GRACE_S for its connections, then closes its pool; one still alive well
    # after that is stuck, and a supervisor waiting on it would hold the port: killed.
    deadline = time.monotonic() + GRACE_S + 15
    for proc in procs:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join()
        mark_process_dead(proc.pid)
    if failed:
        sys.exit(failed)
    # Stopped when asked (SIGTERM, Ctrl-C): success.
    if asked and all(proc.exitcode in (0, -signal.SIGTERM) for proc in procs):
        sys.exit(0)
    sys.exit(max(abs(proc.exitcode or 0) for proc in procs))


def _ended(exitcode: int) -> str:
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    try:
        return f"was killed by {signal.Signals(-exitcode).name}"
    except ValueError:  # a real-time signal: no name
        return f"was killed by signal {-exitcode}"
