"""The big screen in headless Chromium (Debian's): how it is started, and how a test opens the
page with every request outside the server blocked and waits for the map."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
]


def open_screen(
    browser, url: str, lon: float, lat: float, zoom: float, query: str = "", also: tuple = ()
) -> tuple[Page, list[str]]:
    """The screen at ``url`` (``/?query``, e.g. ``archive=true``), with every request to
    anywhere but there (and the origins in ``also``) blocked and listed."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    outside: list[str] = []

    def only_here(route) -> None:
        u = route.request.url
        if u.startswith((url, "data:", "blob:", *also)):
            route.continue_()
        else:
            outside.append(u)
            route.abort()

    page.route("**/*", only_here)
    page.goto(f"{url}/{'?' + query if query else ''}#{zoom}/{lat}/{lon}")
    page.wait_for_function("window.citybrain && window.citybrain.ready", timeout=90_000)
    return page, outside


def rendered(page: Page) -> dict[str, int]:
    return page.evaluate("""() => {
        const m = window.citybrain.map, out = {};
        for (const l of m.getStyle().layers) {
            const key = l['source-layer'] || l.id;
            out[key] = (out[key] || 0) + m.queryRenderedFeatures({layers: [l.id]}).length;
        }
        return out;
    }""")


def wait_idle(page: Page) -> None:
    page.evaluate(
        "() => new Promise(r => { const m = window.citybrain.map; "
        "if (m.loaded() && m.areTilesLoaded()) r(); else m.once('idle', r); })"
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is needed (apt-get install chromium; scripts/test.sh does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield b
        finally:
            b.close()
