"""Tile archives (``citybrain tiles export``): the archive the export writes by default (every
static layer, zooms 8-14) read back whole, every tile the API's tile for the same layers and
z/x/y, and every tile it left out empty in the API; the header's zooms, bounds and tile count
against an independent count of the county's tiles; live layers and bad boxes refused; the
style drawn from the archive."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType

from citybrain.db.connection import libpq_conninfo
from tests.utils.browser import open_screen, rendered, wait_idle
from tests.utils.cli import citybrain
from tests.utils.server import LiveServer, server_settings
from tests.utils.static_host import StaticHost

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

ROOT = Path(__file__).resolve().parents[1]
# Every static layer (drawn from zooms 0/9/11/13/14/8/10), the export's default zooms.
LAYERS = ("towns", "villages", "grids", "compounds", "micro_grids", "roads", "facilities")
MINZOOM, MAXZOOM = 8, 14
EVERY_UP_TO = 12  # every tile read back up to this zoom; a sample of them above it
LIVE = ("incidents", "teams", "cameras", "alerts")  # layers the style keeps on the API


def county_bounds(url: str) -> tuple[float, float, float, float]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        row = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) AS e FROM citybrain.towns) t"
        ).fetchone()
    return tuple(float(v) for v in row)


def tiles_over(bounds, z: int) -> set[tuple[int, int, int]]:
    """The tiles of zoom z that the box touches (Web Mercator arithmetic, not mercantile)."""
    w, s, e, n = bounds
    size = 1 << z

    def col(lon: float) -> int:
        return min(int((lon + 180) / 360 * size), size - 1)

    def row(lat: float) -> int:
        r = math.radians(lat)
        return min(int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * size), size - 1)

    return {(z, x, y) for x in range(col(w), col(e) + 1) for y in range(row(n), row(s) + 1)}


def static_layer_files() -> set[str]:
    """The layers whose files do not say ``live: true``, read from the files themselves."""
    found = (
        yaml.safe_load(p.read_text(encoding="utf-8")) for p in (ROOT / "layers").glob("*.yaml")
    )
    return {doc["id"] for doc in found if not doc.get("live", False)}


@pytest.fixture(scope="module")
def archive(seeded: str, tmp_path_factory) -> Path:
    """The archive of the export's defaults: no layers named, no zooms given."""
    out = tmp_path_factory.mktemp("archive") / "county.pmtiles"
    done = citybrain(seeded, "tiles", "export", str(out))
    assert done.returncode == 0, done.stderr
    assert "tiles" in done.stderr and str(out) in done.stderr
    return out


def read(path: Path) -> tuple[dict, dict, dict[tuple[int, int, int], bytes]]:
    with path.open("rb") as f:
        source = MmapSource(f)
        reader = Reader(source)
        return reader.header(), reader.metadata(), dict(all_tiles(source))


def api_tiles(client: httpx.Client, order: list[str], minzoom: dict, z: int, x: int, y: int):
    """The API's tile of each archived layer drawn at zoom z, in the archive's drawing order
    (the order the export concatenates them in)."""
    shown = [lid for lid in order if minzoom[lid] <= z]
    answers = {lid: client.get(f"/tiles/{lid}/{z}/{x}/{y}.mvt") for lid in shown}
    assert all(r.status_code in (200, 204) for r in answers.values()), (z, x, y)
    return {lid: r.content for lid, r in answers.items()}


def checked_tiles(url: str, bounds) -> set[tuple[int, int, int]]:
    """The tiles read back: every tile over the county's box up to zoom ``EVERY_UP_TO``; above
    it (hundreds of tiles, minutes of requests), the 3x3 tiles around every third town's
    point on surface (the county seat's town first) and one row of tiles across the whole
    box at its middle latitude (the county's edges and the empty tiles beyond them)."""
    chosen = set().union(*(tiles_over(bounds, z) for z in range(MINZOOM, EVERY_UP_TO + 1)))
    with psycopg.connect(libpq_conninfo(url)) as conn:
        points = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) AS p "
            "FROM citybrain.towns) t ORDER BY id"
        ).fetchall()[::3]
    w, s, e, n = bounds
    middle = (s + n) / 2
    for z in range(EVERY_UP_TO + 1, MAXZOOM + 1):
        chosen |= tiles_over((w, middle, e, middle), z)
        for lon, lat in points:
            ((_, x, y),) = tiles_over((lon, lat, lon, lat), z)
            chosen |= {(z, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    return chosen


def test_every_tile_is_the_apis(archive: Path, seeded: str, client: httpx.Client) -> None:
    header, metadata, tiles = read(archive)
    assert header["tile_type"] == TileType.MVT
    assert header["tile_compression"] == Compression.GZIP
    order = [v["id"] for v in metadata["vector_layers"] if not v["id"].endswith("_labels")]
    assert sorted(order) == sorted(LAYERS) == sorted(static_layer_files())
    minzoom = {v["id"]: v["minzoom"] for v in metadata["vector_layers"]}
    checked = checked_tiles(seeded, county_bounds(seeded))
    written = checked & set(tiles)
    assert {z for z, _, _ in written} == set(range(MINZOOM, MAXZOOM + 1))
    assert written < checked  # (tiles beyond the county's edges, left out, are checked too)
    drawn: dict[str, set[int]] = {lid: set() for lid in LAYERS}  # zooms with features
    for z, x, y in sorted(checked):
        api = api_tiles(client, order, minzoom, z, x, y)
        if (z, x, y) in tiles:
            assert gzip.decompress(tiles[z, x, y]) == b"".join(api.values()), (z, x, y)
        else:  # left out of the archive: empty in the API, every layer
            assert not any(api.values()), f"tile {z}/{x}/{y} left out but not empty"
        for lid, content in api.items():
            if content:
                drawn[lid].add(z)
    # Each layer is in the archive at every zoom it is drawn at, up to the last one.
    for lid in LAYERS:
        assert drawn[lid] == set(range(max(minzoom[lid], MINZOOM), MAXZOOM + 1)), lid


def test_header_against_the_county(archive: Path, seeded: str) -> None:
    header, metadata, tiles = read(archive)
    bounds = county_bounds(seeded)
    for key, value in zip(
        ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7"), bounds, strict=True
    ):
        assert abs(header[key] - value * 1e7) <= 10, key  # bounds rounded to 1e-6 degree
    assert metadata["bounds"] == pytest.approx(list(bounds), abs=1e-6)
    assert (header["min_zoom"], header["max_zoom"]) == (MINZOOM, MAXZOOM)
    assert (metadata["minzoom"], metadata["maxzoom"]) == (MINZOOM, MAXZOOM)
    assert metadata["attribution"]
    expected = set().union(*(tiles_over(bounds, z) for z in range(MINZOOM, MAXZOOM + 1)))
    assert set(tiles) <= expected
    assert header["addressed_tiles_count"] == len(tiles)
    assert {z for z, _, _ in tiles} == set(range(MINZOOM, MAXZOOM + 1))
    # (what was left out is empty in the API: test_every_tile_is_the_apis)
    side = json.loads(archive.with_suffix(".json").read_text())
    assert side["tiles"] == ["pmtiles://county.pmtiles/{z}/{x}/{y}"]
    assert {v["id"] for v in side["vector_layers"]} == {v["id"] for v in metadata["vector_layers"]}


@pytest.mark.parametrize("layer", ["incidents", "teams", "heatmap", "alerts"])
def test_live_layers_are_refused(seeded: str, tmp_path: Path, layer: str) -> None:
    out = tmp_path / "live.pmtiles"
    done = citybrain(seeded, "tiles", "export", "towns", layer, str(out), "--maxzoom", "9")
    assert done.returncode == 2
    assert f"{layer} is live" in done.stderr and "stays on the API" in done.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("bbox", "says"),
    [
        ("121,31,120,30", "lower corner"),
        ("120,30,121", "four numbers"),
        ("a,b,c,d", "numbers minlon,minlat,maxlon,maxlat"),
        ("120,30,200,31", "outside CRS84"),
    ],
)
def test_a_bad_bbox_is_refused(seeded: str, tmp_path: Path, bbox: str, says: str) -> None:
    out = tmp_path / "bad.pmtiles"
    done = citybrain(seeded, "tiles", "export", "towns", str(out), "--bbox", bbox)
    assert done.returncode == 2
    assert "--bbox" in done.stderr and says in done.stderr
    assert not out.exists()


def test_the_style_draws_static_layers_from_the_archive(
    seeded: str, client: httpx.Client, tmp_path: Path
) -> None:
    refused = client.get("/style.json", params={"archive": "true"})
    assert refused.status_code == 400 and "CITYBRAIN_TILE_ARCHIVE_URL" in refused.text
    url = "https://cdn.example.org/citybrain.pmtiles"
    with LiveServer(server_settings(seeded, tile_archive_url=url)) as live, live.client() as c:
        plain = c.get("/style.json").json()
        style = c.get("/style.json", params={"archive": "true"}).json()
    assert plain["sources"]["citybrain"]["url"].endswith("/tiles.json")  # unchanged by default
    assert style["sources"]["archive"] == {"type": "vector", "url": f"pmtiles://{url}"}
    sources = {
        layer["source-layer"]: layer["source"] for layer in style["layers"] if "source" in layer
    }
    for static in ("towns", "towns_labels", "villages", "grids", "micro_grids", "roads"):
        assert sources[static] == "archive", static
    for live_layer in ("incidents", "teams", "cameras", "alerts"):
        assert sources[live_layer] == f"citybrain-{live_layer}"
        tiles = style["sources"][f"citybrain-{live_layer}"]["url"]
        assert tiles.endswith(f"/tiles/{live_layer}.json")
    assert sources["heatmap"] == "heatmap" and "citybrain" not in style["sources"]
    validator = ROOT / "node_modules" / ".bin" / "gl-style-validate"
    assert validator.exists(), "run `npm ci` (scripts/test.sh does) for the style validator"
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style, ensure_ascii=False))
    checked = subprocess.run([str(validator), str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_big_screen_draws_from_the_archive(seeded: str, archive: Path, browser) -> None:
    """The screen opened with ``?archive=true`` draws the static layers from the archive on a
    static host (byte ranges, another origin) and the live ones from the API, and draws the
    same static features as from the API's tiles."""
    view = (120.91, 30.85, 11)
    with StaticHost([archive]) as host:
        url = f"{host.url}/{archive.name}"
        with LiveServer(server_settings(seeded, tile_archive_url=url)) as live:
            page, outside = open_screen(browser, live.url, *view)
            wait_idle(page)
            from_api = rendered(page)
            page.close()
            page, outside_archived = open_screen(
                browser, live.url, *view, query="archive=true", also=(host.url,)
            )
            sent: list[tuple[str, str | None]] = []
            page.on("request", lambda rq: sent.append((rq.url, rq.headers.get("range"))))
            page.evaluate("() => window.citybrain.map.setZoom(12)")  # new tiles, asked from now on
            wait_idle(page)
            from_archive = rendered(page)
            page.evaluate("() => window.citybrain.map.setZoom(11)")
            wait_idle(page)
            at_view = rendered(page)
            page.close()
    assert outside == [] and outside_archived == []
    ranged = [r for u, r in sent if u.startswith(url)]
    assert ranged and all(r and r.startswith("bytes=") for r in ranged)
    api_tiles = [u for u, _ in sent if u.startswith(live.url) and "/tiles/" in u]
    assert api_tiles, "the live layers still come from the API"
    for u in api_tiles:  # only live layers' tiles: the static ones are the archive's
        assert any(f"/tiles/{name}/" in u for name in LIVE), u
    for layer in ("towns", "villages", "roads"):
        assert from_archive.get(layer, 0) > 0, layer
        assert at_view.get(layer) == from_api.get(layer), layer
