"""What each layer takes: its columns, their types, which are required, the headers county
offices use for them, and the values those offices write. One table, read by the importer, the
exporter, ``citybrain import LAYER --help`` and docs/import.md.

Location is not a column: a row is placed by the source's geometry, by ``lon``/``lat`` (degrees,
in ``--crs``), by ``easting``/``northing`` (metres of a projected ``--crs``), by ``wkt``, or -
incidents only - by ``address`` matched against the county's own names (see ``geocode``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from citybrain.db.models import LAYER_TABLES
from citybrain.domain import (
    CATEGORIES,
    LOCATION_QUALITIES,
    CameraKind,
    CentreLevel,
    FacilityKind,
    Role,
    Source,
    Status,
    TeamStatus,
    Tier,
)

Kind = Literal["text", "int", "float", "bool", "time", "enum", "categories", "members"]
LAYERS = LAYER_TABLES


@dataclass(frozen=True)
class Column:
    """A column of a layer as imports and exports see it.

    ``aliases``: source headers taken for this column when no ``--map`` names one (first found
    wins; compared without case and surrounding blanks). ``values``: source values translated
    to stored ones (``choices``) before checking, on top of the stored values themselves.
    ``short``: the name in a Shapefile, whose field names stop at 10 bytes.
    """

    name: str
    kind: Kind
    doc: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)
    short: str | None = None

    @property
    def shp_name(self) -> str:
        return self.short or self.name


@dataclass(frozen=True)
class Layer:
    name: str
    title: str
    geometry: Literal["polygon", "point"]
    columns: tuple[Column, ...]
    key: str = "code"
    parent: str | None = None  # the hierarchy level above (a polygon layer) or the home grid
    parent_fk: str | None = None
    doc: str = ""

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# Where a row is: not columns of the table, but what its geometry is made from.
LOCATION = (
    Column(
        "lon",
        "float",
        "longitude in degrees (number or 120°55'12.3\" text), in --crs",
        aliases=("经度", "lon", "lng", "longitude", "x坐标经度", "gps经度"),
    ),
    Column(
        "lat",
        "float",
        "latitude in degrees, in --crs",
        aliases=("纬度", "lat", "latitude", "gps纬度"),
    ),
    Column(
        "easting",
        "float",
        "easting in metres of a projected --crs (surveyors call it Y)",
        aliases=("easting", "东坐标"),
    ),
    Column(
        "northing",
        "float",
        "northing in metres of a projected --crs (surveyors call it X)",
        aliases=("northing", "北坐标"),
    ),
    Column("wkt", "text", "geometry as WKT, in --crs", aliases=("wkt", "geometry", "geom", "几何")),
)
ADDRESS = Column(
    "address",
    "text",
    "where it happened, as text: placed at the most specific area of the county named in it "
    "when no coordinates are given",
    aliases=("事发地址", "地址", "address", "发生地址", "事件地址"),
)

_CODE_DOC = "unique code: the key that re-imports match on"
_NAME = ("名称", "name")


def _code(*aliases: str, doc: str = _CODE_DOC) -> Column:
    return Column("code", "text", doc, required=True, aliases=(*aliases, "编码", "代码", "code"))


def _name(*aliases: str) -> Column:
    return Column("name", "text", "name", required=True, aliases=(*aliases, *_NAME))


DERIVED = Column(
    "derived",
    "bool",
    "true when citybrain drew the polygon (a village from its committee's location) rather "
    "than a survey (default false)",
    aliases=("derived",),
)


def _parent(doc: str, *aliases: str) -> Column:
    return Column(
        "parent",
        "text",
        f"{doc} (else from the code's prefix, else the largest overlap)",
        aliases=(*aliases, "parent", "上级编码", "上级代码"),
    )


VILLAGE_KINDS = {
    # 城乡分类代码 (statistical urban-rural codes): 1xx urban (居委会), 2xx rural (村委会).
    **{c: "community" for c in ("111", "112", "121", "122", "123")},
    **{c: "village" for c in ("210", "220")},
    "社区": "community",
    "居委会": "community",
    "社区居委会": "community",
    "村": "village",
    "行政村": "village",
    "村委会": "village",
}
COMPOUND_KINDS = {
    "小区": "compound",
    "住宅小区": "compound",
    "村民小组": "villager_group",
    "组": "villager_group",
    "自然村": "villager_group",
}
TEAM_STATUSES = {
    "在岗": "available",
    "空闲": "available",
    "可用": "available",
    "忙碌": "busy",
    "处置中": "busy",
    "执勤中": "busy",
    "休息": "off_duty",
    "离岗": "off_duty",
    "下班": "off_duty",
}
ROLE_NAMES = {
    "网格员": Role.grid_worker,
    "专职网格员": Role.grid_worker,
    "辅警": Role.auxiliary_police,
    "党员": Role.party_member,
    "法律顾问": Role.legal_adviser,
    "和谐员": Role.mediator,
    "调解员": Role.mediator,
}
CAMERA_KINDS = {
    "枪机": "bullet",
    "枪型": "bullet",
    "球机": "dome",
    "球型": "dome",
    "半球": "dome",
    "人脸": "face",
    "人脸抓拍": "face",
    "人脸识别": "face",
    "车牌": "plate",
    "车牌识别": "plate",
    "卡口": "plate",
}
ONLINE = {
    "在线": "true",
    "正常": "true",
    "是": "true",
    "离线": "false",
    "故障": "false",
    "否": "false",
}
# 朝向 as text: the eight compass points, in degrees clockwise from north.
HEADINGS = {
    "北": "0",
    "东北": "45",
    "东": "90",
    "东南": "135",
    "南": "180",
    "西南": "225",
    "西": "270",
    "西北": "315",
    "N": "0",
    "NE": "45",
    "E": "90",
    "SE": "135",
    "S": "180",
    "SW": "225",
    "W": "270",
    "NW": "315",
}
# Defaults by camera kind where the ledger does not say: field of view and range.
CAMERA_DEFAULTS = {
    "bullet": (70.0, 100.0),
    "dome": (360.0, 60.0),
    "face": (45.0, 30.0),
    "plate": (40.0, 50.0),
}
FACILITY_KINDS = {
    "文化礼堂": "cultural_hall",
    "农村文化礼堂": "cultural_hall",
    "党群服务中心": "party_service_centre",
    "党群服务站": "party_service_centre",
    "红色驿站": "party_service_centre",
    "警务站": "police_post",
    "联勤警务站": "police_post",
    "法律服务点": "legal_service",
    "公共法律服务站": "legal_service",
    "法律服务": "legal_service",
    "调解室": "mediation_room",
    "人民调解室": "mediation_room",
}
CENTRE_LEVELS = {
    "县": "county",
    "县级": "county",
    "镇": "town",
    "镇级": "town",
    "乡镇": "town",
    "街道": "town",
    "村": "village",
    "村级": "village",
    "社区": "village",
    "站点": "station",
    "驿站": "station",
}
# 12345 work-order statuses (工单状态) and the workflow step each stands for.
ORDER_STATUSES = {
    "已受理": "reported",
    "待派单": "reported",
    "已派单": "dispatched",
    "办理中": "on_site",
    "处理中": "on_site",
    "已办结": "resolved",
    "已回访": "closed",
    "已归档": "closed",
    "已关闭": "closed",
    "已上报": "escalated",
}
SOURCES = {
    "12345": "hotline_12345",
    "12345热线": "hotline_12345",
    "热线": "hotline_12345",
    "网格员": "grid_patrol",
    "网格巡查": "grid_patrol",
    "巡查": "grid_patrol",
    "app": "citizen_app",
    "群众上报": "citizen_app",
    "视频": "camera_ai",
    "ai": "camera_ai",
}
TIERS = {"村": "village", "村级": "village", "镇": "town", "镇级": "town", "县": "county"}
# Category names, their slugs and English names, and the usual short forms.
CATEGORY_NAMES = {
    **{c.slug: c.name for c in CATEGORIES},
    **{c.name_en: c.name for c in CATEGORIES},
    "治安管理": "治安",
    "环境保护": "环境",
    "交通管理": "交通",
    "消防安全": "消防",
}


def _enum(values) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


_TOWNS = Layer(
    "towns",
    "镇/街道 towns and subdistricts",
    "polygon",
    (
        _code(
            "行政区划代",
            "行政区划代码",
            "乡镇代码",
            "区划代码",
            doc="9-digit township code (e.g. 330421001); without one, a town of the county is "
            "matched by its name",
        ),
        _name("乡镇名称", "乡镇街道", "乡镇", "街道"),
        DERIVED,
    ),
)
_VILLAGES = Layer(
    "villages",
    "村/社区 villages and communities (polygons, or points: the committees' locations)",
    "polygon",
    (
        _code(
            "统计用区划代码",
            "行政区划代",
            "村社区代码",
            "村代码",
            "区划代码",
            doc="12-digit code: town code + 001-199 (community) or 200-399 (village)",
        ),
        _name("村社区名", "村社区名称", "村名", "社区名称"),
        Column(
            "kind",
            "enum",
            "village or community (also 城乡分类代码: 1xx community, 2xx village); "
            "else from the code",
            aliases=("kind", "城乡分类代码", "类型", "村社区类"),
            choices=("village", "community"),
            values=VILLAGE_KINDS,
        ),
        _parent("the town's code", "乡镇代码", "town_code"),
        DERIVED,
    ),
    parent="towns",
    parent_fk="town_id",
)
_GRIDS = Layer(
    "grids",
    "网格 comprehensive grids",
    "polygon",
    (
        _code("网格编码", "网格代码"),
        _name("网格名称", "网格名"),
        _parent("the village's code", "村社区代码", "village_code"),
        DERIVED,
    ),
    parent="villages",
    parent_fk="village_id",
)
_COMPOUNDS = Layer(
    "compounds",
    "小区/村民小组 compounds and villager groups",
    "polygon",
    (
        _code("小区编码", "小区代码", "组编码"),
        _name("小区名称", "小区名", "组名"),
        Column(
            "kind",
            "enum",
            "compound or villager_group; else from the name (…组: villager group)",
            aliases=("kind", "类型"),
            choices=("compound", "villager_group"),
            values=COMPOUND_KINDS,
        ),
        _parent("the grid's code", "网格编码", "grid_code"),
        DERIVED,
    ),
    parent="grids",
    parent_fk="grid_id",
)
_MICRO_GRIDS = Layer(
    "micro_grids",
    "微网格 micro-grids",
    "polygon",
    (
        _code("微网格编码", "微网格代码"),
        _name("微网格名称", "微网格名"),
        Column(
            "population",
            "int",
            "residents (default 0)",
            aliases=("population", "人口", "常住人口", "人数"),
            short="population",
        ),
        Column(
            "households",
            "int",
            "households (default 0)",
            aliases=("households", "户数", "住户数"),
            short="households",
        ),
        _parent("the compound's code", "小区编码", "compound_code"),
        DERIVED,
    ),
    parent="compounds",
    parent_fk="compound_id",
)
_TEAMS = Layer(
    "teams",
    "网格团队 grid teams (points: where the team is)",
    "point",
    (
        _code("团队编码", "团队编号", "编号"),
        _name("团队名称", "团队名"),
        Column(
            "grid",
            "text",
            "home grid's code (else the grid at the team's position)",
            aliases=("grid", "网格编码", "所属网格"),
        ),
        Column(
            "status",
            "enum",
            "available, busy or off_duty (default available)",
            aliases=("status", "状态"),
            choices=_enum(TeamStatus),
            values=TEAM_STATUSES,
        ),
        Column(
            "skills",
            "categories",
            "incident categories it takes, separated by , 、 or ; (default: all)",
            aliases=("skills", "职能", "处置类别", "业务范围"),
        ),
        Column(
            "members",
            "members",
            'members: JSON [{"name", "role"}] or 张三(网格员)、李四(辅警) (default none)',
            aliases=("members", "成员"),
        ),
        Column(
            "capacity",
            "int",
            "cases it can hold at once (default 5)",
            aliases=("capacity", "承载量", "最大案件数"),
        ),
        Column(
            "position_at",
            "time",
            "when the position was taken (default: the import)",
            aliases=("position_at", "定位时间"),
            short="posit_at",
        ),
    ),
    parent="grids",
    parent_fk="grid_id",
)
_CAMERAS = Layer(
    "cameras",
    "雪亮工程 cameras",
    "point",
    (
        _code("点位编号", "设备编码", "设备编号", "国标编码"),
        _name("点位名称", "设备名称"),
        Column(
            "kind",
            "enum",
            "bullet, dome, face or plate (枪机/球机/人脸/车牌)",
            required=True,
            aliases=("kind", "设备类型", "类型", "摄像机类型"),
            choices=_enum(CameraKind),
            values=CAMERA_KINDS,
        ),
        Column(
            "heading",
            "float",
            "degrees clockwise from north, or 东/东南/… (default 0)",
            aliases=("heading", "朝向", "方向", "方位角"),
            values=HEADINGS,
        ),
        Column(
            "fov",
            "float",
            "field of view in degrees (default by kind: 70, 360, 45, 40)",
            aliases=("fov", "视场角"),
        ),
        Column(
            "range_m",
            "float",
            "view range in metres, at most 500 (default by kind: 100, 60, 30, 50)",
            aliases=("range_m", "监控距离", "可视距离"),
        ),
        Column(
            "online",
            "bool",
            "online (在线/离线; default online)",
            aliases=("online", "在线状态", "状态"),
            values=ONLINE,
        ),
        Column(
            "owner",
            "text",
            "who built or runs it (default unknown)",
            aliases=("owner", "建设单位", "所属单位", "所属派出所"),
        ),
    ),
)
_FACILITIES = Layer(
    "facilities",
    "facilities: cultural halls, party-and-people service centres, police posts, …",
    "point",
    (
        _code("设施编码", "编号", doc=_CODE_DOC + " (a list without one: --map code=名称)"),
        _name("设施名称"),
        Column(
            "kind",
            "enum",
            "cultural_hall, party_service_centre, police_post, legal_service or mediation_room",
            required=True,
            aliases=("kind", "类型", "设施类型"),
            choices=_enum(FacilityKind),
            values=FACILITY_KINDS,
        ),
        Column(
            "level",
            "enum",
            "party-and-people service centres only: county, town, village or station "
            "(县/镇/村/站点)",
            aliases=("level", "级别", "层级"),
            choices=_enum(CentreLevel),
            values=CENTRE_LEVELS,
        ),
        Column("capacity", "int", "people it holds", aliases=("capacity", "容纳人数", "容量")),
    ),
)
_INCIDENTS = Layer(
    "incidents",
    "事件 incidents, e.g. 12345 work orders (工单)",
    "point",
    (
        Column(
            "external_id",
            "text",
            "the source's own number (工单编号): the key that re-imports match on",
            required=True,
            aliases=("external_id", "工单编号", "工单号", "事件编号", "编号"),
            short="extern_id",
        ),
        Column(
            "category",
            "enum",
            "one of citybrain's categories (治安, 矛盾纠纷, …), or the source's classification "
            "translated by the mapping file's values",
            required=True,
            aliases=("category", "诉求类型", "事件类型", "类别", "事件类别"),
            choices=tuple(c.name for c in CATEGORIES),
            values=CATEGORY_NAMES,
        ),
        Column(
            "reported_at",
            "time",
            "when it was reported (来电时间); local time unless a zone is given",
            required=True,
            aliases=("reported_at", "来电时间", "受理时间", "发生时间", "上报时间"),
            short="reported",
        ),
        Column(
            "description",
            "text",
            "what was reported (may hold names: never on public layers)",
            aliases=("description", "诉求内容", "事件描述", "内容"),
            short="descript",
        ),
        Column(
            "status",
            "enum",
            "reported, dispatched, on_site, resolved, closed or escalated "
            "(已受理/已派单/办理中/已办结/已回访; default reported)",
            aliases=("status", "工单状态", "状态", "办理状态"),
            choices=_enum(Status),
            values=ORDER_STATUSES,
        ),
        Column(
            "source",
            "enum",
            "grid_patrol, citizen_app, hotline_12345 or camera_ai (default hotline_12345)",
            aliases=("source", "来源", "事件来源"),
            choices=_enum(Source),
            values=SOURCES,
        ),
        Column(
            "severity",
            "int",
            "1 (minor) to 4 (default 1)",
            aliases=("severity", "紧急程度", "严重程度"),
        ),
        Column(
            "tier",
            "enum",
            "village, town or county (default: by category and severity)",
            aliases=("tier", "层级", "处置层级"),
            choices=_enum(Tier),
            values=TIERS,
        ),
        Column(
            "dispatched_at",
            "time",
            "dispatched (派单时间)",
            aliases=("派单时间",),
            short="dispatchd",
        ),
        Column("on_site_at", "time", "on site", aliases=("到场时间",), short="on_site"),
        Column(
            "resolved_at", "time", "resolved (办结时间)", aliases=("办结时间",), short="resolved"
        ),
        Column("closed_at", "time", "closed (回访时间)", aliases=("回访时间",), short="closed"),
        Column("escalated_at", "time", "escalated", aliases=("升级时间",), short="escalated"),
        Column(
            "team",
            "text",
            "code of the team handling it",
            aliases=("team", "处置团队", "团队编码"),
        ),
        Column(
            "reporter_name",
            "text",
            "who called (personal data)",
            aliases=("reporter_name", "来电人", "反映人", "联系人"),
            short="rep_name",
        ),
        Column(
            "reporter_phone",
            "text",
            "their phone (personal data)",
            aliases=("reporter_phone", "来电号码", "联系电话", "电话"),
            short="rep_phone",
        ),
        Column(
            "location_quality",
            "enum",
            "exact (the default), or the level of the area whose point stands in for an "
            "address (micro_grid, compound, grid, village, town)",
            aliases=("location_quality",),
            choices=_enum(LOCATION_QUALITIES),
            short="loc_qual",
        ),
    ),
    key="external_id",
)
SPECS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        _TOWNS,
        _VILLAGES,
        _GRIDS,
        _COMPOUNDS,
        _MICRO_GRIDS,
        _TEAMS,
        _CAMERAS,
        _FACILITIES,
        _INCIDENTS,
    )
}
ROLES_BY_NAME = {**ROLE_NAMES, **{str(r): r for r in Role}}
# How exports write each role: the first Chinese name above (网格员, 辅警, ...).
ROLE_LABELS = {role: next(k for k, v in ROLE_NAMES.items() if v == role) for role in Role}


def spec(layer: str) -> Layer:
    from citybrain.errors import InvalidInput

    try:
        return SPECS[layer]
    except KeyError:
        raise InvalidInput(f"unknown layer {layer!r}: one of {', '.join(LAYERS)}") from None


def markdown() -> str:
    """Every layer's columns as Markdown tables (docs/import.md holds exactly this; a test
    checks that it does)."""

    def table(columns) -> list[str]:
        rows = [
            "| column | type | | what | headers taken without `--map` |",
            "|---|---|---|---|---|",
        ]
        for c in columns:
            need = "required" if c.required else ""
            aliases = ", ".join(a for a in c.aliases if a != c.name)
            rows.append(f"| `{c.name}` | {c.kind} | {need} | {c.doc} | {aliases} |")
        return rows

    out = ["### Where a row is (every layer)", "", *table(LOCATION), ""]
    for layer in SPECS.values():
        extra = (ADDRESS,) if layer.name == "incidents" else ()
        out += [f"### `{layer.name}`: {layer.title}", "", f"Key: `{layer.key}`.", ""]
        out += [*table((*layer.columns, *extra)), ""]
    return "\n".join(out)
