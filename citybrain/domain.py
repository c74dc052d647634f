"""The governance domain in constants: towns, incident categories and their rules, workflow states,
roles and kinds. Everything that the database constrains and the API validates comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

COUNTY_CODE = "330421"
COUNTY_NAME = "嘉善县"
# Where the county can be at all (lon/lat, WGS84): its extent (120.74-121.03 E,
# 30.76-31.03 N) widened by about 15 km. Data outside is in another place or another CRS.
COUNTY_REGION = (120.60, 30.60, 121.20, 31.20)

# Points store their H3 cell at the finest resolution (its ancestors are bit arithmetic on the
# BIGINT id). Polygons store their coverage at COVERAGE_RES (see db/models/).
POINT_H3_RES = 15
COVERAGE_RES = 11
# Incidents carry their cell at each of these resolutions (incidents.h3_<res>): the
# resolutions of heatmaps (services/incident_index).
HEAT_RESOLUTIONS = range(5, 12)


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    name_en: str
    seat: tuple[float, float]  # lon, lat (WGS84) of the town government
    area_km2: float  # approximate real area, used to size the synthetic towns
    population: int  # approximate residents, used to size the synthetic hierarchy
    villages: int
    communities: int

    @property
    def is_subdistrict(self) -> bool:  # 街道: urban, mostly communities
        return self.name.endswith("街道")


TOWNS: tuple[Town, ...] = (
    Town("330421001", "魏塘街道", "Weitang", (120.9119, 30.8502), 57.0, 115_000, 6, 15),
    Town("330421002", "罗星街道", "Luoxing", (120.9165, 30.8370), 39.7, 85_000, 5, 10),
    Town("330421003", "惠民街道", "Huimin", (120.9703, 30.8392), 65.6, 80_000, 9, 7),
    Town("330421102", "大云镇", "Dayun", (120.9454, 30.7854), 28.7, 40_000, 7, 2),
    Town("330421103", "西塘镇", "Xitang", (120.8872, 30.9412), 83.0, 95_000, 21, 5),
    Town("330421105", "干窑镇", "Ganyao", (120.8951, 30.8892), 37.1, 50_000, 15, 2),
    Town("330421107", "陶庄镇", "Taozhuang", (120.8105, 30.9686), 45.1, 55_000, 15, 2),
    Town("330421111", "姚庄镇", "Yaozhuang", (120.9572, 30.9121), 74.3, 75_000, 21, 3),
    Town("330421112", "天凝镇", "Tianning", (120.8162, 30.8921), 75.5, 55_000, 19, 3),
)
TOWNS_BY_NAME = {t.name: t for t in TOWNS}
COUNTY_SEAT_TOWN = "330421001"  # the county party-and-people service centre (一核) is here


class Tier(StrEnum):
    """Who handles a case (三级联动、分级诊疗): the lowest level that can."""

    village = "village"
    town = "town"
    county = "county"

    def up(self) -> Tier:
        order = list(Tier)
        return order[min(order.index(self) + 1, len(order) - 1)]


@dataclass(frozen=True)
class Category:
    name: str  # the canonical value, as stored and filtered on (Chinese)
    slug: str
    name_en: str
    base_tier: Tier
    dispatch_minutes: int  # time limit from report to dispatch
    resolve_hours: int  # time limit from report to resolution
    share: float  # share of incidents in the synthetic county


CATEGORIES: tuple[Category, ...] = (
    Category("矛盾纠纷", "dispute", "dispute", Tier.village, 30, 72, 0.15),
    Category("治安", "public_order", "public order", Tier.village, 15, 24, 0.08),
    Category("消防", "fire_hazard", "fire hazard", Tier.village, 15, 24, 0.05),
    Category("安全生产", "work_safety", "work safety", Tier.town, 30, 48, 0.04),
    Category("环境", "environment", "environment", Tier.village, 60, 72, 0.10),
    Category("食品安全", "food_safety", "food safety", Tier.town, 60, 48, 0.03),
    Category("交通", "traffic", "traffic", Tier.village, 15, 12, 0.08),
    Category("出租房屋", "rental_housing", "rental housing", Tier.village, 120, 168, 0.07),
    Category("城市管理", "urban_management", "urban management", Tier.village, 60, 72, 0.15),
    Category("民生诉求", "livelihood", "livelihood request", Tier.village, 120, 168, 0.25),
)
CATEGORIES_BY_NAME = {c.name: c for c in CATEGORIES}


def initial_tier(category: str, severity: int) -> Tier:
    """The tier that first handles a case.

    Rule: the category's base tier (work safety and food safety start at the town, which holds
    the enforcement powers; everything else starts in the village); severity 3 raises it to at
    least the town, severity 4 to the county.
    """
    tier = CATEGORIES_BY_NAME[category].base_tier
    if severity >= 4:
        return Tier.county
    if severity >= 3 and tier == Tier.village:
        return Tier.town
    return tier


# The grid hierarchy, top down (town → village/community → grid → compound/villager group →
# micro-grid): each level's table and the key to its parent.
HIERARCHY: tuple[tuple[str, str | None], ...] = (
    ("towns", None),
    ("villages", "town_id"),
    ("grids", "village_id"),
    ("compounds", "grid_id"),
    ("micro_grids", "compound_id"),
)
LEVELS = tuple(table for table, _ in HIERARCHY)


class Status(StrEnum):
    reported = "reported"  # 受理: taken in, awaiting registration (立案)
    registered = "registered"  # 立案: a case, awaiting dispatch (or returned to the dispatcher)
    dispatched = "dispatched"  # 派遣: with a grid team or a department
    on_site = "on_site"  # 处置: being handled (a failed check sends it back here)
    resolved = "resolved"  # 反馈: reported done, awaiting the check on the ground
    checked = "checked"  # 核查: checked on the ground by someone who did not handle it
    closed = "closed"  # 结案
    escalated = "escalated"  # 上报: a tier up, awaiting dispatch there
    rejected = "rejected"  # 不予立案: out of scope
    merged = "merged"  # 并案: a duplicate of another case, which carries it


# Which status each step stamps (the first time it is reached), in workflow order.
STATUS_TIMESTAMPS: dict[Status, str] = {
    Status.reported: "reported_at",
    Status.registered: "registered_at",
    Status.dispatched: "dispatched_at",
    Status.on_site: "on_site_at",
    Status.resolved: "resolved_at",
    Status.checked: "checked_at",
    Status.closed: "closed_at",
    Status.escalated: "escalated_at",
}
# Which status may follow which is the declared workflow's (``citybrain.workflow.STEPS``).
ACTIVE_STATUSES = (Status.dispatched, Status.on_site)  # count against a team's capacity
# Work to do before a responder reports it done (a resolved or checked case awaits only its
# check and closing: the screen's "open" counts, layers and heatmaps take these).
OPEN_STATUSES = (
    Status.reported,
    Status.registered,
    Status.dispatched,
    Status.on_site,
    Status.escalated,
)
# Not yet closed, nor ended unhandled: what a new report may duplicate.
UNCLOSED = (*OPEN_STATUSES, Status.resolved, Status.checked)
# 并案 and 重复件: a report within DUPLICATE_RADIUS_M metres of an unclosed case of its category
# reported within DUPLICATE_WINDOW of it is offered as its duplicate; one at the same place and
# category as a case closed in the REPEAT_WINDOW before it is marked a repeat.
DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW = timedelta(hours=24)
REPEAT_WINDOW = timedelta(days=30)
# No responder on the way yet.
AWAITING_DISPATCH = (Status.reported, Status.registered, Status.escalated)
# In a responder's hands: sent to it and not yet reported done (its tasks, 我的任务).
IN_HAND = (Status.dispatched, Status.on_site)
# Ended without being handled: not a case (rejected), or carried by another (merged).
ENDED_UNHANDLED = (Status.rejected, Status.merged)


class Satisfaction(StrEnum):
    """The reporter's verdict at the return visit (回访), as 12345 records it."""

    satisfied = "satisfied"  # 满意
    basically_satisfied = "basically_satisfied"  # 基本满意
    dissatisfied = "dissatisfied"  # 不满意


# What the assessment counts as satisfied (满意率: 满意 and 基本满意 of those asked).
SATISFIED = (Satisfaction.satisfied, Satisfaction.basically_satisfied)
# The levels an assessment (考核) is made at: places, and the responders holding cases.
ASSESSMENT_LEVELS = ("town", "village", "grid", "team", "department")


# --- departments: responders beside grid teams (三级联动) ------------------------------------


class DepartmentKind(StrEnum):
    platform = "platform"  # one of a town's four platforms (四个平台), in its town
    county = "county"  # a county department (县级部门), county-wide


@dataclass(frozen=True)
class DepartmentPlan:
    """A department the synthetic county has (a town's platform in each town)."""

    code: str  # the suffix of its code: <town code>-<code>, or <county code>-<code>
    name: str
    categories: tuple[str, ...]


# 基层治理四平台: every town has them, each taking the categories of its work.
TOWN_PLATFORMS: tuple[DepartmentPlan, ...] = (
    DepartmentPlan("zz", "综治工作平台", ("矛盾纠纷", "治安", "出租房屋")),
    DepartmentPlan("zf", "综合执法平台", ("城市管理", "环境", "消防", "交通")),
    DepartmentPlan("sj", "市场监管平台", ("食品安全", "安全生产")),
    DepartmentPlan("bm", "便民服务平台", ("民生诉求",)),
)
COUNTY_DEPARTMENTS: tuple[DepartmentPlan, ...] = (
    DepartmentPlan("gaj", "县公安局", ("治安", "交通")),
    DepartmentPlan("xfjy", "县消防救援大队", ("消防",)),
    DepartmentPlan("yjj", "县应急管理局", ("安全生产",)),
    DepartmentPlan("scjg", "县市场监督管理局", ("食品安全",)),
    DepartmentPlan("zhzf", "县综合行政执法局", ("城市管理", "出租房屋")),
    DepartmentPlan("sthj", "县生态环境分局", ("环境",)),
    DepartmentPlan("mzj", "县民政局", ("民生诉求",)),
    DepartmentPlan("mdtj", "县社会矛盾纠纷调处化解中心", ("矛盾纠纷",)),
)


def why_department_cannot_take(
    kind: str,
    town_id: int | None,
    categories: list[str],
    case_town_id: int | None,
    category: str,
    tier: str,
) -> str | None:
    """Why a department cannot take a case (said of the department), or None when it can: the
    one rule of dispatch to a department. It takes the categories of its work; a town's
    platform takes the cases of its own town below the county tier, a county department any
    case in the county (escalation routes a case to the town's platforms, then the county's)."""
    if category not in categories:
        return f"does not handle {category}"
    if kind == DepartmentKind.platform:
        if tier == Tier.county:
            return "is a town's platform, and the case is at the county tier"
        if town_id != case_town_id:
            return "is a platform of another town"
    return None


# Columns that may hold personal data: never on a map layer, never shown to the public.
# ``attributes`` holds whatever an imported file carried besides citybrain's columns
# (负责人, 联系电话, ...).
PERSONAL = frozenset({"reporter_name", "reporter_phone", "attributes"})
# An incident's case file: what is not a public fact of it (migration 0019: citybrain.case_files,
# guarded by row-level security), beside its public facts in citybrain.incidents.
CASE_FILE = ("description", "reporter_name", "reporter_phone", "attributes")
# The levels an account's or a key's area may be at.
AREA_LEVELS = ("county", "town", "village", "grid")


class LocationQuality(StrEnum):
    """How an incident's point was found: ``exact`` (given), or the level of the area whose
    representative point stands in for an address without coordinates (imports)."""

    exact = "exact"
    micro_grid = "micro_grid"
    compound = "compound"
    grid = "grid"
    village = "village"
    town = "town"


LOCATION_QUALITIES = tuple(LocationQuality)


class Source(StrEnum):
    grid_patrol = "grid_patrol"  # 网格员巡查
    citizen_app = "citizen_app"  # 群众APP上报
    hotline_12345 = "hotline_12345"
    camera_ai = "camera_ai"  # 视频智能识别


class TeamStatus(StrEnum):
    available = "available"
    busy = "busy"
    off_duty = "off_duty"


def why_team_cannot_take(
    status: str, skills: list[str], active: int, capacity: int, category: str
) -> str | None:
    """Why a team cannot take a case of ``category`` now ("is off_duty", ...: said of the team),
    or None when it can: the one rule of recommendation and assignment. A team takes a case
    when it says it is available (``busy`` is what a team at capacity is set to, and what a
    team may say of itself), handles the category and is below its capacity."""
    if status != TeamStatus.available:
        return f"is {status}"
    if category not in skills:
        return f"does not handle {category}"
    if active >= capacity:
        return f"is at capacity ({active} of {capacity} active)"
    return None


# --- access: who may do what (the access table in the README) ---------------------------------
# People have one of member (网格员: their team's cases and their own reports), handler (a
# department's staff: the cases sent to it), dispatcher (their area's cases: dispatch,
# escalate, alerts), leader (reads their area, personal data masked) and admin. Machines keep
# API keys: display (a public screen: what anonymous callers see), viewer (reads case files of
# its area, as a leader), dispatcher and admin. Row-level security knows the roles of people;
# a key acts in the database as the person role it stands for (ACTS_AS).


class Role(StrEnum):
    """Who is asking: a person's role, a key's, or nobody's."""

    anonymous = "anonymous"
    display = "display"  # keys: a public hall's screen
    viewer = "viewer"  # keys: reads case files of its area
    member = "member"  # 网格员
    handler = "handler"  # 部门人员
    leader = "leader"  # 领导
    dispatcher = "dispatcher"  # 调度员
    admin = "admin"
    intake = "intake"  # keys: an outside channel (a citizens' app, the hotline): reports only


PERSON_ROLES = (Role.member, Role.handler, Role.leader, Role.dispatcher, Role.admin)
KEY_ROLES = (Role.display, Role.viewer, Role.dispatcher, Role.admin, Role.intake)
# What a public screen shows, nothing more (an intake key reports, and reads no more than this).
PUBLIC_ROLES = (Role.anonymous, Role.display, Role.intake)

# The person role a key acts as in the database (None: no case file at all).
ACTS_AS: dict[Role, Role | None] = {
    Role.anonymous: None,
    Role.display: None,
    Role.intake: Role.intake,  # (writes the case files it reports; reads none: migration 0019)
    Role.viewer: Role.leader,
    **{r: r for r in PERSON_ROLES},
}


class Can(StrEnum):
    """What a caller may do; each route asks for one (``api.auth.allowed``)."""

    read_cases = "read case files (of its area, as row-level security decides)"
    see_members = "see team members' names"
    advise = "ask for dispatch advice (recommendations, a team's route)"
    assess = "read the assessment (考核) of its area's towns, villages, grids, teams, departments"
    report = "report an incident"
    push_orders = "push 12345 work orders (PUT /hotline/orders/{order_no})"
    send_photos = "send photos for the cases and steps they report (POST /photos)"
    patrol = "walk patrols (巡查) recorded as tracks (PUT /patrols/{key})"
    dispatch = "dispatch, escalate and move cases; move teams"
    act_alerts = "acknowledge, dispatch, close and snooze alerts"
    see_personal = "see reporters' names and phones unmasked (each read logged)"
    read_operations = "read /metrics and /healthz's versions and counts"
    import_files = "import files"
    manage_people = "create, disable and reset accounts"


_CASE_READERS = {Role.viewer, Role.member, Role.handler, Role.leader, Role.dispatcher, Role.admin}
CAPABILITIES: dict[Can, frozenset[Role]] = {
    Can.read_cases: frozenset(_CASE_READERS),
    Can.see_members: frozenset(_CASE_READERS),
    Can.advise: frozenset({Role.viewer, Role.leader, Role.dispatcher, Role.admin}),
    Can.assess: frozenset({Role.viewer, Role.leader, Role.dispatcher, Role.admin}),
    Can.report: frozenset({Role.member, Role.dispatcher, Role.admin, Role.intake}),
    Can.push_orders: frozenset({Role.dispatcher, Role.admin, Role.intake}),
    Can.send_photos: frozenset({Role.member, Role.handler, Role.dispatcher, Role.admin}),
    Can.patrol: frozenset({Role.member}),
    Can.dispatch: frozenset({Role.dispatcher, Role.admin}),
    Can.act_alerts: frozenset({Role.dispatcher, Role.admin}),
    Can.see_personal: frozenset({Role.dispatcher, Role.handler, Role.admin}),
    Can.read_operations: frozenset(_CASE_READERS),
    Can.import_files: frozenset({Role.admin}),
    Can.manage_people: frozenset({Role.admin}),
}


def can(role: str, what: Can) -> bool:
    return role in CAPABILITIES[what]


def who_can(what: Can) -> str:
    """The roles that may, for messages: "dispatcher or admin"."""
    names = [str(r) for r in Role if r in CAPABILITIES[what]]
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]


@dataclass(frozen=True)
class Actor:
    """Who takes a step of a case or an alert, and when (business time, ``citybrain.clock``):
    what the audit trail records."""

    name: str
    role: str
    at: datetime


class MemberRole(StrEnum):
    """A grid team's members' roles (网格连心、组团服务)."""

    grid_worker = "grid_worker"  # 网格员
    auxiliary_police = "auxiliary_police"  # 辅警
    party_member = "party_member"  # 党员
    legal_adviser = "legal_adviser"  # 法律顾问
    mediator = "mediator"  # 和谐员


class CameraKind(StrEnum):
    bullet = "bullet"  # 枪机
    dome = "dome"  # 球机
    face = "face"  # 人脸抓拍
    plate = "plate"  # 车牌识别


class FacilityKind(StrEnum):
    cultural_hall = "cultural_hall"  # 文化礼堂
    party_service_centre = "party_service_centre"  # 党群服务中心
    police_post = "police_post"  # 联勤警务站
    legal_service = "legal_service"  # 法律服务点
    mediation_room = "mediation_room"  # 调解室


class CentreLevel(StrEnum):
    """Party-and-people service centres: 一核多点、四级联动."""

    county = "county"
    town = "town"
    village = "village"
    station = "station"


class VillageKind(StrEnum):
    village = "village"  # 村 (村委会)
    community = "community"  # 社区 (居委会)


class CompoundKind(StrEnum):
    compound = "compound"  # 小区
    villager_group = "villager_group"  # 村民小组


# Early warning (citybrain.alerts): what raised an alert, and its lifecycle.
class AlertKind(StrEnum):
    scan = "scan"  # prospective space-time permutation scan (Kulldorff 2005)
    ears = "ears"  # EARS C2/C3 against the same hours of earlier weeks
    rule = "rule"  # a condition the command centre wrote


class AlertStatus(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    dispatched = "dispatched"
    closed = "closed"


# Which status each alert action leads to, and from which it may be taken.
ALERT_ACTIONS: dict[str, tuple[AlertStatus, frozenset[AlertStatus]]] = {
    "ack": (AlertStatus.acknowledged, frozenset({AlertStatus.new})),
    "dispatch": (AlertStatus.dispatched, frozenset({AlertStatus.new, AlertStatus.acknowledged})),
    "close": (
        AlertStatus.closed,
        frozenset({AlertStatus.new, AlertStatus.acknowledged, AlertStatus.dispatched}),
    ),
}
OPEN_ALERT_STATUSES = (AlertStatus.new, AlertStatus.acknowledged, AlertStatus.dispatched)
# The area levels a detector can watch (the hierarchy below the county, and H3 cells).
ALERT_LEVELS = LEVELS[:4]  # towns to compounds
