"""Debian's nginx in front of test servers, with the deployment's own configuration
(``deploy/nginx.conf.template``) rendered into a temporary directory: its listeners on free
loopback ports, its tile cache, logs and pid file in that directory."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.utils.server import free_port

NGINX = "/usr/sbin/nginx"
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf.template"
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")

# What the official image's nginx.conf holds around its conf.d/*.conf: here with every path
# inside the test's directory, so that nginx runs without touching /var or /etc.
MAIN = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include {dir}/citybrain.conf;
}}
"""


def template_variables() -> set[str]:
    """The ``${NAME}`` variables the template uses (the envsubst syntax)."""
    return set(VARIABLE.findall(TEMPLATE.read_text()))


def render(values: dict[str, str]) -> str:
    """The template with its variables replaced, as envsubst does; every one must be given
    (envsubst would leave an unset one empty, and nginx would then refuse the file or, worse,
    accept it)."""
    missing = template_variables() - values.keys()
    assert not missing, f"no value for {sorted(missing)}"
    return VARIABLE.sub(lambda m: values[m.group(1)], TEMPLATE.read_text())


class Nginx:
    """nginx (``daemon off``) in front of ``api`` (public ports) and ``dispatch`` (dispatch
    ports) on 127.0.0.1; ``edit`` changes the rendered configuration (a test's variant)."""

    def __init__(
        self, api: list[int], dispatch: list[int], edit: Callable[[str], str] | None = None
    ):
        self.dir = Path(tempfile.mkdtemp(prefix="citybrain-nginx-"))
        self.dir.chmod(0o755)  # nginx's workers (nobody, when started as root) write in it
        (self.dir / "tmp").mkdir()
        self.port, self.dispatch_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dispatch_url = f"http://127.0.0.1:{self.dispatch_port}"
        self.access_log = self.dir / "access.log"
        values = {
            "NGINX_PORT": f"127.0.0.1:{self.port}",
            "NGINX_DISPATCH_PORT": f"127.0.0.1:{self.dispatch_port}",
            "NGINX_API_SERVERS": " ".join(f"server 127.0.0.1:{p};" for p in api),
            "NGINX_DISPATCH_SERVERS": " ".join(f"server 127.0.0.1:{p};" for p in dispatch),
            "NGINX_REVALIDATE_PORT": str(free_port()),
            "NGINX_CACHE_DIR": str(self.dir / "cache"),
            "NGINX_ACCESS_LOG": str(self.access_log),
        }
        text = render(values)
        (self.dir / "citybrain.conf").write_text(edit(text) if edit else text)
        (self.dir / "nginx.conf").write_text(MAIN.format(dir=self.dir))
        self.proc: subprocess.Popen | None = None

    def command(self, *more: str) -> list[str]:
        conf, errors = self.dir / "nginx.conf", self.dir / "error.log"
        return [NGINX, "-p", str(self.dir), "-e", str(errors), "-c", str(conf), *more]

    def check(self) -> subprocess.CompletedProcess:
        """``nginx -t``: the rendered configuration as nginx reads it."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True)

    def __enter__(self) -> Nginx:
        checked = self.check()
        assert checked.returncode == 0, checked.stderr
        self.proc = subprocess.Popen(
            self.command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, f"nginx exited:\n{self.errors()}"
            try:
                httpx.get(f"{self.url}/livez", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"nginx did not start:\n{self.errors()}"
                time.sleep(0.1)
        return self

    def errors(self) -> str:
        path = self.dir / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def log(self) -> list[dict[str, str]]:
        """The access log's lines as their ``key=value`` fields (and ``status``, ``request``)."""
        lines = []
        for line in self.access_log.read_text().splitlines():
            fields = dict(re.findall(r"(\w+)=(\S+)", line))
            request = re.search(r'"([^"]*)" (\d{3})', line)
            if request:
                fields.update(request=request.group(1), status=request.group(2))
            lines.append(fields)
        return lines

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
