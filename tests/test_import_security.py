"""Uploads and imported files never make citybrain read other files, open connections, or take
a worker down (issue 29): GDAL's VRT and WFS descriptions and GeoJSON CRS links are refused
over HTTP and on the command line with the formats citybrain imports named, no byte of a file
they point at comes back and nothing connects to a listener they point at; XLSX bombs and zips
with lying headers are refused within seconds while the server keeps its size; an import that
needs more memory than allowed answers 413 and writes nothing; a killed worker of
``citybrain serve`` is replaced while the service answers, and workers that keep failing at
start stop it with their status."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import openpyxl
import psutil
import psycopg
import pytest
import shapely

from citybrain.db.connection import libpq_conninfo
from citybrain.settings import Settings
from tests.utils.cli import citybrain
from tests.utils.databases import snapshot
from tests.utils.keys import API_KEYS_SETTING, auth
from tests.utils.offices import points_on
from tests.utils.serve import Serve
from tests.utils.server import LiveServer

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

SECRET = "SECRET-7f3a9c"  # a value of a local file no answer may ever carry
NAMES = ("x.json", "x.geojson", "x.csv", "x.gpkg")  # what lures are sent as
MiB = 2**20


class Listener:
    """A TCP server on a free loopback port that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    self.seen.append(conn.recv(200))
                except OSError:
                    self.seen.append(b"")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lis = Listener()
    yield lis
    lis.close()


def _lures(port: int, target: Path) -> dict[str, bytes]:
    """Files whose content makes GDAL read ``target`` or reach the listener on ``port``."""
    point = {"type": "Point", "coordinates": [120.9, 30.85]}
    link = {"type": "link", "properties": {"href": f"http://127.0.0.1:{port}/crs.wkt"}}
    return {
        "vrt": (
            f'<OGRVRTDataSource><OGRVRTLayer name="cams"><SrcDataSource>{target}</SrcDataSource>'
            f"<SrcLayer>{target.stem}</SrcLayer><GeometryType>wkbPoint</GeometryType>"
            '<GeometryField encoding="PointFromColumns" x="lon" y="lat"/></OGRVRTLayer>'
            "</OGRVRTDataSource>"
        ).encode(),
        "vsicurl": (
            f"<OGRVRTDataSource><OGRVRTLayer name='cams'><SrcDataSource>/vsicurl/http://"
            f"127.0.0.1:{port}/cams.csv</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
        ).encode(),
        "wfs": f"<OGRWFSDataSource><URL>http://127.0.0.1:{port}/wfs</URL></OGRWFSDataSource>".encode(),
        "crs_link": json.dumps(
            {
                "type": "FeatureCollection",
                "crs": link,
                "features": [{"type": "Feature", "properties": {"code": "C1"}, "geometry": point}],
            }
        ).encode(),
    }


def _secret_csv(folder: Path) -> Path:
    """Cameras whose kind is the secret: a dry run that read it would reject the row and
    echo the value."""
    path = folder / "secret.csv"
    path.write_text(f"code,name,kind,lon,lat\nC1,x,{SECRET},120.9,30.85\n", encoding="utf-8")
    return path


@pytest.fixture
def api(fresh_county: str) -> Iterator[httpx.Client]:
    settings = Settings(database_url=fresh_county, api_keys=API_KEYS_SETTING, import_max_mb=2)
    with LiveServer(settings) as live, live.client(timeout=120) as client:
        yield client


def _refused(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    for allowed in ("CSV", "XLSX", "GeoPackage", "GeoJSON", "GeoParquet", "zipped Shapefile"):
        assert allowed in detail, detail
    return detail


def test_uploads_that_point_elsewhere_are_refused(api, listener, tmp_path) -> None:
    lures = _lures(listener.port, _secret_csv(tmp_path))
    sent = [(f"{kind}-{name}", data) for kind, data in lures.items() for name in NAMES]
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("cameras.geojson", lures["vrt"])
    sent.append(("vrt.zip", zipped.getvalue()))
    for name, data in sent:
        r = api.post("/imports/cameras", files={"file": (name, data)}, headers=auth("admin"))
        assert _refused(r).startswith(f"{name}: "), r.text  # the file named
        assert SECRET not in r.text, name
    assert listener.seen == []


def _fifo(folder: Path) -> tuple[Path, threading.Event]:
    """A named pipe standing for a file a lure points at, and an event set if anything
    opens it to read (the writer's open returns only then)."""
    path = folder / "cams.csv"
    os.mkfifo(path)
    opened = threading.Event()

    def write() -> None:
        try:
            with open(path, "w") as f:
                opened.set()
                f.write(f"code,name,kind,lon,lat\nC1,x,{SECRET},120.9,30.85\n")
        except BrokenPipeError:  # the test's own open, to free this thread, read nothing
            pass

    threading.Thread(target=write, daemon=True).start()
    return path, opened


def test_the_command_refuses_the_same_files(fresh_county, listener, tmp_path) -> None:
    fifo, opened = _fifo(tmp_path)
    for kind, data in _lures(listener.port, fifo).items():
        for name in ("x.json", "x.csv", "x.gpkg"):
            path = tmp_path / f"{kind}-{name}"
            path.write_bytes(data)
            out = citybrain(fresh_county, "import", "cameras", str(path), "--dry-run")
            said = " ".join(out.stderr.split())  # (the console wraps long lines)
            assert out.returncode == 2, said  # a refused source, as a missing one: 2
            assert f"{path.name}: " in said and "citybrain imports CSV" in said, said
            assert SECRET not in out.stdout + out.stderr
    assert not opened.is_set()  # (checked before the pipe is opened here to free its writer)
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    assert listener.seen == []


# --- bombs -------------------------------------------------------------------------------------

SHARED_STRINGS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _xlsx_bomb(unpacked_mb: int) -> bytes:
    """A valid workbook (one camera) whose shared strings unpack to ``unpacked_mb`` MB of
    repeated text: a few hundred kB to 1 MB, deflated at level 9."""
    book = openpyxl.Workbook()
    book.active.append(["code", "name", "kind", "lon", "lat"])
    book.active.append(["C1", "x", "dome", 120.9, 30.85])
    small = io.BytesIO()
    book.save(small)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(small) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst,
    ):
        for member in src.infolist():
            data = src.read(member)
            if member.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            if member.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    f'<Relationship Type="{SHARED_STRINGS}" Target="sharedStrings.xml" '
                    'Id="rId9"/></Relationships>'.encode(),
                )
            dst.writestr(member.filename, data)
        item = b"<si><t>" + b"padding " * 12 + b"</t></si>"
        block = item * (MiB // len(item))
        with dst.open("xl/sharedStrings.xml", "w") as f:
            f.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            for _ in range(unpacked_mb):
                f.write(block)
            f.write(b"</sst>")
    return out.getvalue()


def _lying(zipped: bytes, member: str, declared: int) -> bytes:
    """``zipped`` with ``member``'s uncompressed size given as ``declared`` in its local and
    central headers (the data, and its CRC, as they were)."""
    data = bytearray(zipped)
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        info = z.getinfo(member)
        local, central = info.header_offset, _central_offset(z, member, data)
    assert data[local : local + 4] == b"PK\x03\x04" and data[central : central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def _central_offset(z: zipfile.ZipFile, member: str, data: bytearray) -> int:
    at = z.start_dir
    for info in z.infolist():
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if info.filename == member:
            return at
        at += 46 + name_len + extra_len + comment_len
    raise KeyError(member)


def _csv_zip(unpacked_mb: int) -> bytes:
    row = b"C1,x,dome,120.9,30.85\n"
    out = io.BytesIO()
    z = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
    with z, z.open("big.csv", "w") as f:
        f.write(b"code,name,kind,lon,lat\n")
        for _ in range(unpacked_mb):
            f.write(row * (MiB // len(row)))
    return out.getvalue()


def _rss() -> int:
    return psutil.Process().memory_info().rss


def test_bombs_are_refused_within_seconds(api) -> None:
    bombs = [  # name, body, status, what the detail says
        ("bomb.xlsx", _xlsx_bomb(300), 413, "unpacks to more than 8 MB"),
        ("lying.zip", _lying(_csv_zip(200), "big.csv", 100), 400, "not a readable zip"),
        (
            "lying.xlsx",
            _lying(_xlsx_bomb(300), "xl/sharedStrings.xml", 100),
            400,
            "not a readable zip",
        ),
    ]
    for name, body, _, _ in bombs:
        assert len(body) < 2 * MiB, (name, len(body))  # under the upload limit: not that 413
    api.get("/livez")
    before = _rss()
    for name, body, status, says in bombs:
        started = time.monotonic()
        r = api.post("/imports/cameras", files={"file": (name, body)}, headers=auth("admin"))
        took = time.monotonic() - started
        assert r.status_code == status and says in r.json()["detail"], (name, r.text)
        assert took < 5, (name, took)
        assert _rss() - before < 200 * MiB, (name, (_rss() - before) / MiB)


def test_an_import_over_its_memory_is_refused_and_writes_nothing(fresh_county) -> None:
    settings = Settings(
        database_url=fresh_county,
        api_keys=API_KEYS_SETTING,
        import_max_mb=50,  # the 150 MB workbook unpacks within the limit (200 MB) ...
        import_max_memory_mb=64,  # ... but its strings need more memory than this
    )
    bomb = _xlsx_bomb(150)
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    with LiveServer(settings) as live, live.client(timeout=120) as api:
        api.get("/livez")
        rss = _rss()
        r = api.post(
            "/imports/cameras",
            files={"file": ("cams.xlsx", bomb)},
            data={"dry_run": "false"},
            headers=auth("admin"),
        )
        assert r.status_code == 413, r.text
        assert "64 MB" in r.json()["detail"] and "CITYBRAIN_IMPORT_MAX_MEMORY_MB" in r.text
        assert _rss() - rss < 200 * MiB
        with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
            assert snapshot(conn) == before
        # The worker is as it was: the next import is served.
        with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
            grid = points_on(conn, "grids", 1).iloc[0]
        good = f"code,name,kind,lon,lat\nMEM-1,x,dome,{grid['lon']},{grid['lat']}\n".encode()
        r = api.post("/imports/cameras", files={"file": ("c.csv", good)}, headers=auth("admin"))
        assert r.status_code == 200 and r.json()["inserted"] == 1, r.text


# --- every documented format still imports over HTTP ------------------------------------------


def _sources(conn: psycopg.Connection, folder: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Three new cameras at grid points in each format citybrain imports, as uploaded."""
    pts = points_on(conn, "grids", 3)
    gdf = gpd.GeoDataFrame(
        {"code": [f"SEC-{i}" for i in range(3)], "name": ["a", "b", "c"], "kind": "dome"},
        geometry=shapely.points(pts["lon"], pts["lat"]),
        crs=4326,
    )
    table = gdf.assign(lon=pts["lon"], lat=pts["lat"]).drop(columns="geometry")
    table.to_csv(folder / "c.csv", index=False)
    table.to_excel(folder / "c.xlsx", index=False)
    gdf.to_file(folder / "c.gpkg")
    gdf.to_file(folder / "c.geojson")
    (folder / "c.json").write_bytes((folder / "c.geojson").read_bytes())
    gdf.to_parquet(folder / "c.parquet")
    (folder / "shp").mkdir()
    gdf.to_file(folder / "shp" / "c.shp", encoding="UTF-8")
    parts = sorted((folder / "shp").iterdir())
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        for p in parts:
            z.write(p, f"cameras/{p.name}")
    single = ("c.csv", "c.xlsx", "c.gpkg", "c.geojson", "c.json", "c.parquet")
    out = {name: [(name, (folder / name).read_bytes())] for name in single}
    out["shapefile parts"] = [(p.name, p.read_bytes()) for p in parts]
    out["zipped shapefile"] = [("c.zip", zipped.getvalue())]
    return out


def test_every_documented_format_still_imports(api, fresh_county, tmp_path) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        sources = _sources(conn, tmp_path)
    for what, files in sources.items():
        r = api.post(
            "/imports/cameras",
            files=[("file", f) for f in files],
            headers=auth("admin"),
        )
        assert r.status_code == 200, (what, r.text)
        body = r.json()
        assert (body["rows"], body["inserted"], body["rejected"]) == (3, 3, 0), (what, body)


# --- the server's processes ---------------------------------------------------------------------


def _listening(pid: int, port: int) -> bool:
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port
        for c in psutil.Process(pid).net_connections(kind="tcp")
    )


def test_a_killed_worker_is_replaced_while_the_service_answers(fresh_county) -> None:
    with Serve(fresh_county, workers=2) as s:
        before = s.worker_pids()
        public = [pid for pid in before if _listening(pid, s.port)]
        assert len(before) == 3 and len(public) == 2  # two public processes and dispatch
        victim = public[0]
        os.kill(victim, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(victim)], timeout=10)
        deadline = time.monotonic() + 120
        answered = 0
        while True:
            assert httpx.get(f"{s.url}/readyz", timeout=10).status_code == 200
            answered += 1
            new = [pid for pid in s.worker_pids() if pid not in before]
            if new and _listening(new[0], s.port):
                break
            assert time.monotonic() < deadline, "no worker took the killed one's place"
            time.sleep(0.2)
        now = s.worker_pids()
        assert victim not in now and len(now) == 3
        for _ in range(20):  # new connections, spread by the kernel over both workers
            with httpx.Client(timeout=10) as c:
                assert c.get(f"{s.url}/readyz").status_code == 200
        lines = s.lines()
        assert any(
            f"(pid {victim}) was killed by SIGKILL: starting another" in line for line in lines
        ), lines[-20:]
        proc = s.proc
    assert proc is not None and proc.returncode == 0  # stopped when asked: still a success
    assert answered >= 1


def test_workers_that_keep_failing_stop_the_service(fresh_county) -> None:
    plan = Serve(fresh_county, workers=2)  # (its ports and settings; not started)
    plan.log.unlink()
    blocker = socket.create_server(("127.0.0.1", plan.port))  # the public port, taken
    try:
        command = [sys.executable, "-m", "citybrain.cli", "serve", "--port", str(plan.port)]
        started = time.monotonic()
        out = subprocess.run(
            [*command, "--workers", "2"], env=plan.env, capture_output=True, text=True, timeout=300
        )
    finally:
        blocker.close()
    assert out.returncode == 1, out.stderr[-3000:]  # a worker's status: the port was in use
    assert "ends within 60 s, stopping" in out.stderr, out.stderr[-3000:]
    assert time.monotonic() - started < 240
