"""A static file host for a test: Debian's nginx serving a directory with byte ranges and CORS,
as a CDN or object store serves a tile archive to browsers on another origin."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.utils.nginx import MAIN, NGINX
from tests.utils.server import free_port

# The server block, inside the test nginx's own main configuration (tests/utils/nginx.py).
SERVER = """\
access_log {dir}/access.log;
types {{ application/vnd.pmtiles pmtiles; }}
server {{
    listen 127.0.0.1:{port};
    root {root};
    add_header Access-Control-Allow-Origin * always;
    add_header Access-Control-Allow-Headers Range always;
    add_header Access-Control-Expose-Headers "Content-Length, Content-Range, ETag" always;
    if ($request_method = OPTIONS) {{ return 204; }}
}}
"""


class StaticHost:
    """Serves copies of ``files`` at ``url``/<name> while in a ``with`` (copies: nginx's
    workers run as nobody, who may not read a test's private temporary directory)."""

    def __init__(self, files: list[Path]):
        self.dir = Path(tempfile.mkdtemp(prefix="citybrain-static-"))
        self.dir.chmod(0o755)
        (self.dir / "tmp").mkdir()
        root = self.dir / "files"
        root.mkdir()
        for f in files:
            shutil.copyfile(f, root / f.name)
            (root / f.name).chmod(0o644)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.dir / "citybrain.conf").write_text(
            SERVER.format(dir=self.dir, port=self.port, root=root)
        )
        (self.dir / "nginx.conf").write_text(MAIN.format(dir=self.dir))
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> StaticHost:
        conf = ["-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", "nginx.conf"]
        checked = subprocess.run([NGINX, *conf, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.proc = subprocess.Popen([NGINX, *conf, "-g", "daemon off;"], start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(self.url, timeout=2)
                return self
            except httpx.TransportError:
                alive = self.proc.poll() is None
                assert alive and time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
