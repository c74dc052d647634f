"""``citybrain serve`` as deployed, in a process group of its own: ``--workers`` public
processes and the dispatch process, its log lines (stderr) kept in a file for the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from tests.utils.keys import API_KEYS_SETTING
from tests.utils.server import free_port


class Serve:
    def __init__(self, database_url: str, workers: int = 2, **env: str):
        self.port, self.dispatch_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dispatch_url = f"http://127.0.0.1:{self.dispatch_port}"
        self.log = Path(tempfile.mkstemp(prefix="citybrain-serve-", suffix=".log")[1])
        self.workers = workers
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
        self.env.update(
            CITYBRAIN_DATABASE_URL=database_url,
            CITYBRAIN_API_KEYS=API_KEYS_SETTING,
            CITYBRAIN_RATE_LIMIT="",
            CITYBRAIN_RATE_LIMIT_KEYED="",
            CITYBRAIN_ALERTS_RUN="false",
            CITYBRAIN_DISPATCH_PORT=str(self.dispatch_port),
            **env,
        )
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Serve:
        command = [sys.executable, "-m", "citybrain.cli", "serve", "--port", str(self.port)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*command, "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180  # (a loaded two-core machine took 129 s)
        try:
            # Ready: both ports answer, and every worker listens (a worker listens only once its
            # start-up is done: api.server).
            while not (_ready(self.url) and _ready(self.dispatch_url) and self._all_listening()):
                assert self.proc.poll() is None, f"serve exited:\n{self.log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "serve did not become ready"
                time.sleep(0.2)
        except BaseException:
            self.__exit__()  # (a with-block whose start fails is not left: stop what started)
            raise
        return self

    def _all_listening(self) -> bool:
        listening = 0
        for pid in self.worker_pids():
            try:
                conns = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                return False
            listening += any(
                c.status == psutil.CONN_LISTEN and c.laddr.port in (self.port, self.dispatch_port)
                for c in conns
            )
        return listening == self.workers + 1

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children()
        return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
