"""The big screen in headless Chromium (Debian's): how it is started, and how a test opens a
page with every request outside the server blocked, waits for the map, and reads the
Content-Security-Policy violations the page met."""

from __future__ import annotations

import shutil
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

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


# Each document records the policy violations it meets (in the page, not the worker: a worker
# the policy refuses is reported to the page, and its fetches are the page's policy's too).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(
  `${e.effectiveDirective} refused ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`));
"""
_reported: weakref.WeakKeyDictionary[Page, list[str]] = weakref.WeakKeyDictionary()


def open_page(browser, url: str, path: str = "/", also: tuple = ()) -> tuple[Page, list[str]]:
    """``url + path``, with every request to anywhere but ``url`` (and the origins in
    ``also``) blocked and listed; policy violations are recorded (``violations``)."""
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
    page.wait_for_function = _waiting_without_eval(page)  # type: ignore[method-assign]
    page.add_init_script(RECORD_VIOLATIONS)
    reported = _reported[page] = []
    page.on(
        "console",
        lambda m: reported.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(url + path)
    return page, outside


def _waiting_without_eval(page: Page):
    """``page.wait_for_function`` for pages whose policy refuses ``eval``: Playwright's own
    evaluates its predicate with ``eval()`` inside the page, which the policy refuses (as it
    should), so the predicate is asked from here through ``page.evaluate`` (the DevTools
    protocol, which the page's policy does not govern), across navigations, until true."""

    def wait_for_function(expression: str, arg=None, timeout: float = 30_000, polling=None):
        function = expression.strip()
        if not function.startswith(("(", "function", "async")) and "=>" not in function:
            function = f"() => ({function})"
        deadline = time.monotonic() + timeout / 1000
        while True:
            try:
                value = page.evaluate(function, arg)
            except PlaywrightError as exc:  # a navigation in between: ask the new document
                if "destroyed" not in str(exc) and "navigat" not in str(exc):
                    raise
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise PlaywrightTimeoutError(f"not true within {timeout:g} ms: {expression}")
            page.wait_for_timeout(polling if isinstance(polling, int | float) else 50)

    return wait_for_function


def violations(page: Page) -> list[str]:
    """The Content-Security-Policy violations the page met: its ``securitypolicyviolation``
    events, and the browser's console reports of them."""
    return page.evaluate("window.__cspViolations || []") + _reported.get(page, [])


def open_screen(
    browser, url: str, lon: float, lat: float, zoom: float, query: str = "", also: tuple = ()
) -> tuple[Page, list[str]]:
    """The screen at ``url`` (``/?query``, e.g. ``archive=true``), with every request to
    anywhere but there (and the origins in ``also``) blocked and listed."""
    page, outside = open_page(
        browser, url, f"/{'?' + query if query else ''}#{zoom}/{lat}/{lon}", also
    )
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
