"""The field app (issue 33) in headless Chromium on a phone's screen (360×780, touch, its
position emulated): a seeded member logs in, sees their team's cases, goes offline (the
browser's own switch), reports and takes steps, reloads without a network, and comes back
online; what arrives is checked in the database, once each and in order, photos byte for
byte. A conflict on arrival is shown with its reason; a patrol becomes a stored track."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from pyproj import Geod

from tests.utils.browser import OUTPUT, RECORD_VIOLATIONS
from tests.utils.cases import People, grid_of, ok, report, road_walk
from tests.utils.people import password_of
from tests.utils.photos import gps_exif, jpeg

TOWN = "330421001"
DISPATCHER = f"d-{TOWN}"
GEOD = Geod(ellps="WGS84")
PHONE = {"width": 360, "height": 780}


@pytest.fixture(scope="module")
def people(module_server, fresh_county_module) -> People:
    return People(module_server, fresh_county_module)


@pytest.fixture(scope="module")
def grid(module_owner) -> dict:
    return grid_of(module_owner, TOWN)


@pytest.fixture
def phone(browser, grid):
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation={"longitude": grid["lon"], "latitude": grid["lat"], "accuracy": 5},
        permissions=["geolocation"],
        service_workers="allow",
    )
    context.add_init_script(RECORD_VIOLATIONS)
    context.asked = []  # every request the pages and the service worker made
    context.on("request", lambda r: context.asked.append(r.url))
    try:
        yield context
    finally:
        context.close()


def only_here(context, page: Page, server_url: str) -> None:
    """The app asked nothing of any other host, and its policy refused nothing."""
    outside = [u for u in context.asked if not u.startswith((server_url, "data:", "blob:"))]
    assert outside == []
    assert page.evaluate("window.__cspViolations") == []


def log_in(page: Page, url: str, server_url: str, login: str) -> None:
    page.goto(f"{server_url}/field/")
    page.get_by_label("登录名").fill(login)
    page.get_by_label("密码").fill(password_of(url, login))
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="我的任务")).to_be_visible(timeout=30_000)
    # The service worker holds the shell (its install fetched it) and controls the page (asked
    # through evaluate, which waits for the promise; wait_for_function would take it as true).
    deadline = time.monotonic() + 30
    while not page.evaluate(
        "async () => !!navigator.serviceWorker.controller && "
        "!!(await caches.match('/field/app.js')) && "
        "document.querySelectorAll('#category option').length > 0"
    ):
        assert time.monotonic() < deadline, "the service worker never took the page"
        page.wait_for_timeout(50)


SMALL_TARGETS = """() => [...document.querySelectorAll('button, input, select, textarea')]
    .filter((e) => e.offsetParent !== null)
    .map((e) => [e.textContent.trim() || e.name || e.id, e.getBoundingClientRect()])
    .filter(([, r]) => r.height < 44 || r.width < 44)
    .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""


def small_targets(page: Page) -> list[str]:
    """The visible controls smaller than 44 px either way (one hand, a thumb)."""
    return page.evaluate(SMALL_TARGETS)


def task_ids(page: Page) -> list[int]:
    return [
        int(x) for x in page.locator("#tasks li").evaluate_all("ls => ls.map(l => l.dataset.id)")
    ]


def pending(page: Page) -> int:
    box = page.get_by_label("待同步")
    return 0 if box.is_hidden() else int(box.inner_text().split()[-1])


def photo_file(tmp_path, name: str):
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(jpeg(name, size=(2400, 1800), exif=gps_exif(120.9, 30.8)))
    return path


def team_cases(owner, team: int) -> list[int]:
    return [
        r[0]
        for r in owner.execute(
            """SELECT id FROM citybrain.incidents
               WHERE team_id = %s AND status IN ('dispatched', 'on_site')
               ORDER BY severity DESC,
                        citybrain.step_due(category, 'resolve', reported_at,
                                           extension_minutes), id""",
            [team],
        ).fetchall()
    ]


def test_a_day_offline(
    phone, module_server, module_client, fresh_county_module, module_owner, people, grid, tmp_path
) -> None:
    c, owner, member = module_client, module_owner, grid["members"][0]
    for _ in range(3):
        inc = report(c, people[DISPATCHER], grid)
        ok(c, people[DISPATCHER], inc, "dispatch", team_id=grid["team"])
    page = phone.new_page()
    log_in(page, fresh_county_module, module_server.url, member)
    expect(page.locator("#tasks li")).to_have_count(len(team_cases(owner, grid["team"])))
    assert task_ids(page) == team_cases(owner, grid["team"])
    case = task_ids(page)[0]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert small_targets(page) == []
    before = owner.execute("SELECT coalesce(max(id), 0) FROM citybrain.incidents").fetchone()[0]

    phone.set_offline(True)
    expect(page.locator("#net")).to_have_text("离线")
    page.get_by_role("button", name="上报事件").click()
    form = page.locator("#report-form")
    for i in range(5):
        phone.set_geolocation(
            {"longitude": grid["lon"] + i * 1e-4, "latitude": grid["lat"], "accuracy": 5}
        )
        form.get_by_label("类别").select_option("矛盾纠纷")
        form.get_by_label("描述").fill(f"离线上报 {i}")
        form.get_by_label("照片").set_input_files(photo_file(tmp_path, f"report-{i}"))
        form.get_by_role("button", name="提交").click()
        expect(page.get_by_label("待同步")).to_have_text(f"待同步 {i + 1}")
    assert small_targets(page) == []
    page.get_by_role("button", name="我的任务").click()
    page.locator(f"#tasks li[data-id='{case}'] button").click()
    assert small_targets(page) == []
    page.get_by_role("button", name="签收").click()
    page.get_by_role("button", name="到场").click()
    expect(page.get_by_role("button", name="办结")).to_be_enabled()
    page.get_by_role("button", name="办结").click()
    page.locator("#step-form textarea").fill("已现场调解，双方签字")
    page.locator("#step-form").get_by_label("照片").set_input_files(photo_file(tmp_path, "done"))
    page.get_by_role("button", name="确定").click()
    expect(page.get_by_label("待同步")).to_have_text("待同步 8")

    # Reloaded without a network: the app opens from the phone, the queue still there.
    page.reload()
    expect(page.get_by_label("待同步")).to_have_text("待同步 8", timeout=15_000)
    expect(page.get_by_role("button", name="我的任务")).to_be_visible()
    queued = page.evaluate("() => window.fieldApp.queue()")
    assert [a["kind"] for a in queued] == ["report"] * 5 + ["step"] * 3
    assert [a["step"] for a in queued[5:]] == ["accept", "handle", "report_done"]
    sent = [[p["sha256"] for p in a["photos"]] for a in queued]
    assert all(len(s) == 1 for s in sent[:5]) and sent[5:7] == [[], []] and len(sent[7]) == 1
    assert owner.execute(
        "SELECT count(*) FROM citybrain.incidents WHERE id > %s", [before]
    ).fetchone() == (0,)

    phone.set_offline(False)
    expect(page.get_by_label("待同步")).to_be_hidden(timeout=30_000)
    refused = page.evaluate("() => window.fieldApp.refused()")
    assert [(a["kind"], a["reason"]) for a in refused] == []

    # Exactly five new incidents, in the order reported, each with its photo as resized.
    new = owner.execute(
        """SELECT i.id, f.description, ST_X(i.geom), ip.photo_id FROM citybrain.incidents i
           JOIN citybrain.case_files f ON f.incident_id = i.id
           LEFT JOIN citybrain.incident_photos ip ON ip.incident_id = i.id
           WHERE i.id > %s ORDER BY i.id""",
        [before],
    ).fetchall()
    assert [r[1] for r in new] == [f"离线上报 {i}" for i in range(5)]
    assert [r[2] for r in new] == pytest.approx(
        [grid["lon"] + i * 1e-4 for i in range(5)], abs=1e-9
    )
    assert [[r[3]] for r in new] == sent[:5]
    headers = people[member]
    for (pid,) in sent[:5] + [sent[7]]:
        got = c.get(f"/photos/{pid}", headers=headers)
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == pid
        img = Image.open(io.BytesIO(got.content))
        assert max(img.size) == 1600 and not img.getexif()  # resized on the phone, no EXIF
    # The case's three steps, once each, in order, by the member.
    trail = owner.execute(
        "SELECT action, actor, detail FROM citybrain.incident_events "
        "WHERE incident_id = %s ORDER BY id",
        [case],
    ).fetchall()
    assert [t[0] for t in trail][-3:] == ["accept", "handle", "report_done"]
    assert [t[0] for t in trail].count("report_done") == 1 and [t[1] for t in trail][-3:] == [
        member
    ] * 3
    assert trail[-1][2] == {"photos": sent[7]}
    assert trail[-2][2]["position"] == pytest.approx([grid["lon"] + 4e-4, grid["lat"]], abs=1e-9)
    assert owner.execute(
        "SELECT status FROM citybrain.incidents WHERE id = %s", [case]
    ).fetchone() == ("resolved",)
    only_here(phone, page, module_server.url)
    OUTPUT.mkdir(exist_ok=True)
    page.get_by_role("button", name="我的任务").click()
    page.screenshot(path=OUTPUT / "field-app.png")


def test_a_step_refused_on_arrival_is_shown_and_the_rest_arrives(
    phone, module_server, module_client, fresh_county_module, module_owner, people, grid, tmp_path
) -> None:
    c, owner, member = module_client, module_owner, grid["members"][1]
    inc = report(c, people[DISPATCHER], grid)
    ok(c, people[DISPATCHER], inc, "dispatch", team_id=grid["team"])
    ok(c, people[DISPATCHER], inc, "handle")
    page = phone.new_page()
    log_in(page, fresh_county_module, module_server.url, member)
    expect(page.locator(f"#tasks li[data-id='{inc}']")).to_be_visible()
    before = owner.execute("SELECT coalesce(max(id), 0) FROM citybrain.incidents").fetchone()[0]
    phone.set_offline(True)
    page.locator(f"#tasks li[data-id='{inc}'] button").click()
    page.get_by_role("button", name="办结").click()
    page.locator("#step-form textarea").fill("已处理")
    page.locator("#step-form").get_by_label("照片").set_input_files(photo_file(tmp_path, "late"))
    page.get_by_role("button", name="确定").click()
    page.get_by_role("button", name="上报事件").click()
    form = page.locator("#report-form")
    form.get_by_label("类别").select_option("矛盾纠纷")
    form.get_by_label("描述").fill("冲突之后的上报")
    form.get_by_role("button", name="提交").click()
    expect(page.get_by_label("待同步")).to_have_text("待同步 2")

    # Meanwhile the dispatcher sends the case to another team of the town.
    other = owner.execute(
        """SELECT t.id FROM citybrain.teams t
           JOIN citybrain.grids g ON g.id = t.grid_id
           JOIN citybrain.villages v ON v.id = g.village_id
           WHERE v.town_id = %s AND t.id <> %s AND t.status = 'available'
             AND '矛盾纠纷' = ANY (t.skills) ORDER BY t.id LIMIT 1""",
        [grid["town"], grid["team"]],
    ).fetchone()[0]
    owner.execute("UPDATE citybrain.teams SET capacity = 1000 WHERE id = %s", [other])
    ok(c, people[DISPATCHER], inc, "reassign", team_id=other)

    phone.set_offline(False)
    expect(page.get_by_label("待同步")).to_be_hidden(timeout=30_000)
    refused = page.evaluate("() => window.fieldApp.refused()")
    assert [(a["kind"], a["step"], a["incident"]) for a in refused] == [
        ("step", "report_done", inc)
    ]
    assert refused[0]["status"] in (403, 404, 409)
    expect(page.locator("#refused")).to_contain_text("办结")
    expect(page.locator("#refused")).to_contain_text(refused[0]["reason"])
    # Nothing else was lost: the report arrived; the case is with the other team, untouched.
    assert owner.execute(
        "SELECT count(*) FROM citybrain.case_files "
        "WHERE incident_id > %s AND description = '冲突之后的上报'",
        [before],
    ).fetchone() == (1,)
    assert owner.execute(
        "SELECT status, team_id FROM citybrain.incidents WHERE id = %s", [inc]
    ).fetchone() == (
        "dispatched",
        other,
    )


def test_a_patrol_walked_along_a_road(
    phone, module_server, fresh_county_module, module_owner, grid
) -> None:
    owner, member = module_owner, grid["members"][0]
    walk = road_walk(owner, grid["grid"])[:12]
    page = phone.new_page()
    log_in(page, fresh_county_module, module_server.url, member)
    page.get_by_role("button", name="巡查").click()
    phone.set_geolocation({"longitude": walk[0][0], "latitude": walk[0][1], "accuracy": 5})
    page.get_by_role("button", name="开始巡查").click()
    for i, (lon, lat) in enumerate(walk):
        phone.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 5})
        expect(page.locator("#patrol-state")).to_contain_text(
            f"已记录 {i + 1} 个点", timeout=15_000
        )
    page.get_by_role("button", name="结束巡查").click()
    expect(page.locator("#patrol-state")).to_contain_text(f"巡查结束：共 {len(walk)} 个点")
    deadline = time.monotonic() + 30
    while True:  # (sent behind the page: the patrol's end is the last to arrive)
        row = owner.execute(
            """SELECT p.length_m, (SELECT count(*) FROM citybrain.patrol_points pp
                                   WHERE pp.patrol_id = p.id), p.ended_at IS NOT NULL
               FROM citybrain.patrols p JOIN citybrain.users u ON u.id = p.user_id
               WHERE u.login = %s ORDER BY p.id DESC LIMIT 1""",
            [member],
        ).fetchone()
        if (row and row[2]) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert page.evaluate("() => window.fieldApp.refused()") == []
    walked = sum(GEOD.inv(a[0], a[1], b[0], b[1])[2] for a, b in zip(walk, walk[1:], strict=False))
    assert row[1] == len(walk) and row[2]
    assert row[0] == pytest.approx(walked, rel=0.01)


def test_a_case_sent_to_the_team_arrives_while_the_app_is_open(
    phone, module_server, module_client, fresh_county_module, module_owner, people, grid
) -> None:
    c, member = module_client, grid["members"][1]
    page = phone.new_page()
    log_in(page, fresh_county_module, module_server.url, member)
    expect(page.locator("#tasks li")).to_have_count(len(team_cases(module_owner, grid["team"])))
    assert page.evaluate("() => window.fieldApp.state.notified") == 0
    inc = report(c, people[DISPATCHER], grid)
    ok(c, people[DISPATCHER], inc, "dispatch", team_id=grid["team"])
    # On the live stream, well before the 30 s poll: listed, with a sound and a vibration.
    expect(page.locator(f"#tasks li[data-id='{inc}']")).to_be_visible(timeout=10_000)
    assert page.evaluate("() => window.fieldApp.state.notified") == 1
    assert page.title().startswith("(1) 新任务")
    assert task_ids(page) == team_cases(module_owner, grid["team"])


def test_a_phone_shared_by_a_shift_sends_each_members_actions_as_that_member(
    phone, module_server, fresh_county_module, module_owner, grid
) -> None:
    owner, (first, second) = module_owner, grid["members"]
    page = phone.new_page()
    page.on("dialog", lambda d: d.accept())  # (logging out with actions waiting asks first)
    log_in(page, fresh_county_module, module_server.url, first)
    before = owner.execute("SELECT coalesce(max(id), 0) FROM citybrain.incidents").fetchone()[0]
    phone.set_offline(True)
    page.get_by_role("button", name="上报事件").click()
    form = page.locator("#report-form")
    form.get_by_label("类别").select_option("矛盾纠纷")
    form.get_by_label("描述").fill("交班前的上报")
    form.get_by_role("button", name="提交").click()
    expect(page.get_by_label("待同步")).to_have_text("待同步 1")
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    phone.set_offline(False)
    # The next member's session sends none of it, and does not show it as theirs.
    log_in(page, fresh_county_module, module_server.url, second)
    expect(page.get_by_label("待同步")).to_be_hidden()
    page.wait_for_timeout(1500)
    assert owner.execute(
        "SELECT count(*) FROM citybrain.incidents WHERE id > %s", [before]
    ).fetchone() == (0,)
    assert [a["login"] for a in page.evaluate("() => window.fieldApp.queue()")] == [first]
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    # Its member back: sent, as them.
    log_in(page, fresh_county_module, module_server.url, first)
    expect(page.get_by_label("待同步")).to_be_hidden(timeout=30_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = owner.execute(
            """SELECT e.actor FROM citybrain.incidents i
               JOIN citybrain.incident_events e ON e.incident_id = i.id AND e.action = 'report'
               WHERE i.id > %s""",
            [before],
        ).fetchall()
        if rows:
            break
        time.sleep(0.2)
    assert rows == [(first,)]
