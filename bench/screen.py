"""The big screen's first full render at county zoom, in headless Chromium (Debian's), on the
1M-incident county: from opening the page until the map is idle with every tile drawn, for the
default window (the last 24 hours and the open incidents) and for a year.

    .venv/bin/python -m bench.screen

One server process; a fresh browser page per run (no HTTP cache); every request outside this
machine blocked. Chromium here draws with SwiftShader (no GPU), so the figures are an upper
bound of what a command centre's machine shows.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import time
from datetime import datetime

from playwright.sync_api import sync_playwright

from bench.common import END, bench_database, serve
from tests.utils.browser import ARGS  # Debian's headless Chromium, as the browser tests run it

COUNTY = (120.90, 30.88, 10)  # lon, lat, zoom: the whole county on a 1920x1080 screen


def first_render(browser, base: str, window: str | None) -> float:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith((base, "data:", "blob:"))
            else route.abort()
        ),
    )
    lon, lat, z = COUNTY
    t0 = time.perf_counter()
    page.goto(f"{base}/#{z}/{lat}/{lon}")
    page.wait_for_function("window.citybrain && window.citybrain.ready", timeout=120_000)
    if window:  # choose the window as a duty officer would, and wait for the map to settle
        page.click(f"#heat-window button[data-last='{window}']")
        t0 = time.perf_counter()
    page.evaluate(
        "() => new Promise(r => { const m = window.citybrain.map; "
        "const done = () => m.loaded() && m.areTilesLoaded(); "
        "if (done()) r(); "
        "else m.on('idle', function f() { if (done()) { m.off('idle', f); r(); } }); })"
    )
    seconds = time.perf_counter() - t0
    page.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = bench_database(1_000_000)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("this benchmark needs Debian's chromium: apt-get install chromium")
    # The county's year ends at END: the default window (the last 24 hours) holds only what
    # is open; a year is the window a planner would choose.
    with serve(url, workers=1) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        rows = []
        for label, window in (
            ("opening the page: the default window (24 h + open)", None),
            ("then choosing a year (1年): until the map settles", "365d"),
        ):
            times = [first_render(browser, base, window) for _ in range(args.runs)]
            rows.append((label, times))
        browser.close()
    print(
        f"\nbig screen, first full render at county zoom (z10, 1920x1080), 1,000,000 incidents "
        f"(year ending {END:%Y-%m-%d}), {platform.node()}, {datetime.now():%Y-%m-%d}\n"
    )
    print("| what | median s | runs |")
    print("|---|---:|---|")
    for label, times in rows:
        print(
            f"| {label} | {statistics.median(times):.2f} | {', '.join(f'{t:.2f}' for t in times)} |"
        )


if __name__ == "__main__":
    main()
