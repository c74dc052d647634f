"""What the HTTP edge trusts and says: a request naming a host the service does not answer to
gets 400 ``invalid_host`` and nothing built from that host (health checks answer whatever the
host); links and redirects name ``CITYBRAIN_PUBLIC_URL`` when it is set; every answer is
``nosniff`` without a referrer, pages carry a Content-Security-Policy and may not be framed;
the documentation pages load only this server's own copies of Swagger UI and ReDoc.
(The pages in a browser, with every outside host blocked and no policy violation:
tests/test_screen.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest

from citybrain.api.headers import csp
from citybrain.settings import Settings
from tests.utils.server import LiveServer, server_settings

EVIL = "evil.example"
PUBLIC = "https://screen.county.example.cn/citybrain"
# Every answer that names the service (OGC links, TileJSON, the style) or redirects.
NAMING = (
    "/?f=json",
    "/style.json",
    "/tiles.json",
    "/tiles/towns.json",
    "/collections",
    "/collections/towns",
    "/collections/towns/items?limit=2",
    "/collections/towns/queryables",
    "/conformance",
    "/collections/",  # a trailing slash: Starlette's redirect to /collections
)
HEALTH = ("/livez", "/healthz", "/readyz")
# URIs of standards in the answers (conformance classes, CRSs, schemas), not links to here.
STANDARDS = ("http://www.opengis.net/", "https://json-schema.org/", "https://geojson.org/")


def _urls(value: Any) -> list[str]:
    """Every http(s) URL in a JSON document."""
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return [value]
    return []


def test_a_host_the_service_does_not_answer_to_is_refused(client: httpx.Client) -> None:
    for path in NAMING:
        r = client.get(path, headers={"Host": EVIL}, follow_redirects=False)
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert r.json()["code"] == "invalid_host"
        assert EVIL not in r.text and not any(EVIL in v for v in r.headers.values()), path
        assert r.headers["x-content-type-options"] == "nosniff"  # errors carry them too
    for host in (f"{EVIL}:8000", f"127.0.0.1.{EVIL}", f"localhost.{EVIL}", "[::2]:80", ""):
        assert client.get("/collections", headers={"Host": host}).status_code == 400, host
    # Load balancers and scrapers ask by address: health checks answer whatever the host.
    for path in HEALTH:
        assert client.get(path, headers={"Host": EVIL}).status_code == 200, path


def test_loopback_names_are_answered_by_their_own_name(server: LiveServer) -> None:
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        with httpx.Client(base_url=server.url, headers={"Host": host}, timeout=30) as api:
            style = api.get("/style.json")
            assert style.status_code == 200, (host, style.text)
            own = "http://" + host
            assert style.json()["sources"]["citybrain"]["url"] == f"{own}/tiles.json"
            assert all(u.startswith(own + "/") for u in _urls(style.json())), host
            redirect = api.get("/collections/", follow_redirects=False)
            assert redirect.status_code == 307
            assert redirect.headers["location"] == f"{own}/collections"


@pytest.fixture(scope="module")
def public(seeded: str) -> Iterator[LiveServer]:
    """A server told its public URL (behind a proxy, under a path)."""
    with LiveServer(server_settings(seeded, public_url=PUBLIC + "/")) as live:
        yield live


def test_links_name_the_public_url(public: LiveServer) -> None:
    with public.client() as api:
        seen: list[str] = []
        for path in NAMING[:-1]:
            r = api.get(path)
            assert r.status_code == 200, (path, r.text)
            seen += [u for u in _urls(r.json()) if not u.startswith(STANDARDS)]
        assert all(u.startswith(PUBLIC + "/") for u in seen), [
            u for u in seen if not u.startswith(PUBLIC + "/")
        ]
        assert f"{PUBLIC}/tiles/towns/{{z}}/{{x}}/{{y}}.mvt" in seen  # the layer's TileJSON
        assert f"{PUBLIC}/fonts/{{fontstack}}/{{range}}.pbf" in seen  # the style's glyphs
        items = api.get("/collections/towns/items", params={"limit": 2}).json()
        (following,) = [link["href"] for link in items["links"] if link["rel"] == "next"]
        assert following.startswith(f"{PUBLIC}/collections/towns/items?")
        assert {"limit=2", "offset=2"} <= set(following.split("?")[1].split("&"))
        # A redirect names it too; the public name is answered, another is not.
        r = api.get("/collections/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == f"{PUBLIC}/collections"
        r = api.get("/collections", headers={"Host": "screen.county.example.cn"})
        assert r.status_code == 200
        assert api.get("/collections", headers={"Host": EVIL}).status_code == 400


def test_the_host_settings_are_checked() -> None:
    assert Settings(public_url="https://a.example.cn/x/").public_url == "https://a.example.cn/x"
    for bad in ("screen.county.gov.cn", "ftp://a.example.cn", "https://a.example.cn/?x=1"):
        with pytest.raises(pydantic.ValidationError, match="is not a base URL"):
            Settings(public_url=bad)
    for bad in ("https://a.example.cn", "a.example.cn:8000", "a.example.cn/x"):
        with pytest.raises(pydantic.ValidationError, match="is not a host name"):
            Settings(allowed_hosts=bad)


def test_an_allowed_hosts_list_replaces_the_loopback_names(seeded: str) -> None:
    settings = server_settings(seeded, allowed_hosts="screen.county.example.cn, *.grid.example.cn")
    with LiveServer(settings) as live, live.client() as api:
        for host, status in (
            ("screen.county.example.cn", 200),
            ("Screen.County.Example.CN.:443", 200),
            ("a.grid.example.cn", 200),
            ("grid.example.cn", 400),
            (f"127.0.0.1:{live.port}", 400),
            ("localhost", 400),
        ):
            assert api.get("/conformance", headers={"Host": host}).status_code == status, host
        assert api.get("/readyz").status_code == 200


def _policy(header: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (d.split() for d in header.split(";") if d.strip())}


def test_every_answer_is_nosniff_and_pages_carry_a_policy(client: httpx.Client) -> None:
    for path, status in (("/conformance", 200), ("/collections/nothing", 404), ("/livez", 200)):
        r = client.get(path)
        assert r.status_code == status
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "content-security-policy" not in r.headers  # not a page
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    policy = _policy(page.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"] and policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    # The big screen's own page has no inline script or style for the policy to refuse.
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=", page.text)


def test_a_tile_archive_s_origin_may_be_reached() -> None:
    policy = _policy(csp(Settings(tile_archive_url="https://tiles.example.cn:8443/a/c.pmtiles")))
    assert policy["connect-src"] == ["'self'", "https://tiles.example.cn:8443"]
    assert _policy(csp(Settings()))["connect-src"] == ["'self'"]


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_documentation_pages_load_only_this_server_s_files(client: httpx.Client, path) -> None:
    first, second = client.get(path), client.get(path)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    policy = _policy(first.headers["content-security-policy"])
    (nonce,) = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    nonce = nonce[len("'nonce-") : -1]
    assert second.headers["content-security-policy"] != first.headers["content-security-policy"]
    assert policy["frame-ancestors"] == ["'none'"]
    # Every inline element carries the nonce; everything loaded is this server's own file.
    inline = re.findall(r"<(script|style)(?![^>]*\bsrc=)([^>]*)>", first.text)
    assert inline and all(f'nonce="{nonce}"' in attrs for _, attrs in inline)
    loaded = re.findall(r'(?:src|href)="([^"]+)"', first.text)
    assert all(u.startswith("/static/vendor/") for u in loaded), loaded
    for url in loaded:
        assert client.get(url).status_code == 200, url
    assert "googleapis" not in first.text and "cdn." not in first.text


def test_the_docs_are_not_in_the_api_definition(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)
    assert "/locate" in paths
