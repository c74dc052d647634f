"""The field app on a member's phone, in headless Chromium (Debian's) with a phone's screen, on
the 1M-incident county: the first load on a slow 3G link (Chromium's own throttling: 400 kbit/s
each way, 400 ms round trip) until the member's task list is usable, the same for a phone that
must log in first (until the login form is usable), the second visit with no network at all,
and the size of the app's own code and styles as sent (gzip), MapLibre aside.

    .venv/bin/python -m bench.field [--runs 3]

"Usable" is the app's own mark (``performance.mark('citybrain:tasks')``: the list drawn from
what the server answered, or offline from what the phone kept), read against the navigation's
start. Each first load is a fresh browser context (no cache, no service worker) holding a
session made through the API, as a phone that logged in before and was wiped would.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import time
from datetime import datetime

import httpx
import psycopg
from playwright.sync_api import sync_playwright

from bench.common import bench_database, serve
from citybrain import clock
from citybrain.db.connection import libpq_conninfo
from citybrain.domain import IN_HAND
from citybrain.people.accounts import reset_password
from citybrain.settings import Settings
from tests.utils.browser import ARGS

PHONE = {"width": 360, "height": 780}
SLOW_3G = {  # Chromium's DevTools throttling, as its "slow 3G" with the figures
    "offline": False,
    "latency": 400,
    "downloadThroughput": 400_000 / 8,
    "uploadThroughput": 400_000 / 8,
}
APP_FILES = (
    "index.html",
    "app.js",
    "queue.js",
    "app.css",
    "sw.js",
    "manifest.webmanifest",
    "icon.svg",
)
TARGETS = {"first": 5.0, "offline": 1.0, "kb": 300.0}


def busiest_member(url: str) -> tuple[str, str, int]:
    """The first member of the team with the most cases in hand, a password of theirs, and
    how many cases their list shows."""
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        team, n = conn.execute(
            "SELECT team_id, count(*) FROM citybrain.incidents "
            "WHERE status = ANY(%s) AND team_id IS NOT NULL "
            "GROUP BY team_id ORDER BY count(*) DESC, team_id LIMIT 1",
            [[str(s) for s in IN_HAND]],
        ).fetchone()
        login = conn.execute(
            "SELECT login FROM citybrain.users WHERE team_id = %s AND role = 'member' "
            "ORDER BY login LIMIT 1",
            [team],
        ).fetchone()[0]
        password = reset_password(conn, login, clock.now(Settings()))
        conn.execute(
            "UPDATE citybrain.users SET must_change_password = false WHERE login = %s", [login]
        )
    return login, password, min(n, 200)


def marked(page, name: str, timeout_s: float = 60) -> float:
    """Seconds from the navigation's start to the page's mark ``name``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        at = page.evaluate(f"() => performance.getEntriesByName('{name}')[0]?.startTime ?? null")
        if at is not None:
            return at / 1000
        time.sleep(0.02)
    raise TimeoutError(f"no mark {name} within {timeout_s} s")


def slow(context, page) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)


def one_day(browser, base: str, login: str, password: str, n: int) -> tuple[float, float]:
    """A first load on slow 3G with a session, then a second visit offline: seconds each."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    with httpx.Client(base_url=base) as c:
        r = c.post("/auth/login", json={"login": login, "password": password})
        r.raise_for_status()
        context.add_cookies([{"name": k, "value": v, "url": base} for k, v in c.cookies.items()])
    page = context.new_page()
    slow(context, page)
    page.goto(f"{base}/field/")
    first = marked(page, "citybrain:tasks")
    shown = page.locator("#tasks li").count()
    assert shown == n, f"the list shows {shown} cases, the team has {n} in hand"
    # The worker keeps the shell (MapLibre included) before the phone goes offline.
    deadline = time.monotonic() + 180
    while not page.evaluate(
        "async () => !!navigator.serviceWorker.controller && "
        "!!(await caches.match('/field/maplibre-gl.js'))"
    ):
        assert time.monotonic() < deadline, "the service worker never kept the shell"
        time.sleep(0.1)
    context.set_offline(True)
    again = context.new_page()
    again.goto(f"{base}/field/")
    offline = marked(again, "citybrain:tasks")
    assert again.locator("#tasks li").count() == n
    context.close()
    return first, offline


def login_form(browser, base: str) -> float:
    """A phone that never logged in: seconds until the login form can be filled in."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    slow(context, page)
    t0 = time.perf_counter()
    page.goto(f"{base}/field/")
    page.get_by_role("button", name="登录").wait_for(state="visible", timeout=60_000)
    seconds = time.perf_counter() - t0
    context.close()
    return seconds


def sizes(base: str) -> dict[str, int]:
    """Bytes each file takes on the wire, gzipped as the server sends it to a phone."""
    out = {}
    with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}) as c:
        for name in (*APP_FILES, "maplibre-gl.js", "maplibre-gl.css"):
            with c.stream("GET", f"/field/{name}") as r:
                r.raise_for_status()
                out[name] = sum(len(b) for b in r.iter_raw())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = bench_database(1_000_000)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("this benchmark needs Debian's chromium: apt-get install chromium")
    login, password, n = busiest_member(url)
    with serve(url, workers=1) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        days = [one_day(browser, base, login, password, n) for _ in range(args.runs)]
        forms = [login_form(browser, base) for _ in range(args.runs)]
        browser.close()
        wire = sizes(base)
    own = sum(wire[f] for f in APP_FILES) / 1024
    first, offline = [d[0] for d in days], [d[1] for d in days]
    print(
        f"\nfield app ({login}: {n} cases in hand), 1,000,000 incidents, phone 360x780, "
        f"{platform.node()}, {datetime.now():%Y-%m-%d}\n"
    )
    print("| what | median | runs | target |")
    print("|---|---:|---|---|")
    rows = [
        ("first load on slow 3G (400 kbit/s, 400 ms), logged in: task list usable", first, "first"),
        ("second visit, offline: task list usable (from the phone)", offline, "offline"),
    ]
    for label, times, key in rows:
        med = statistics.median(times)
        verdict = "met" if med <= TARGETS[key] else "NOT met"
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"| {label} | {med:.2f} s | {runs} | ≤ {TARGETS[key]:g} s: {verdict} |")
    runs = ", ".join(f"{t:.2f}" for t in forms)
    print(
        f"| first load on slow 3G, never logged in: login form usable | "
        f"{statistics.median(forms):.2f} s | {runs} | |"
    )
    verdict = "met" if own <= TARGETS["kb"] else "NOT met"
    print(
        f"| the app's own code and styles, gzip ({', '.join(APP_FILES)}) | {own:.1f} KB | | "
        f"≤ 300 KB: {verdict} |"
    )
    maplibre = (wire["maplibre-gl.js"] + wire["maplibre-gl.css"]) / 1024
    print(f"| MapLibre (loaded after the list), gzip | {maplibre:.1f} KB | | |")


if __name__ == "__main__":
    main()
