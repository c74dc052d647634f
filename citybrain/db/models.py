"""The PostGIS schema ``citybrain``: the documented interface that planners and other programs read.

Geometry is WGS84 (SRID 4326) everywhere. The governance hierarchy is five polygon tables, each
tiling its parent exactly::

    towns ─< villages ─< grids ─< compounds ─< micro_grids ─< h3_coverage

Point tables (``teams``, ``cameras``, ``facilities``, ``incidents``) carry ``h3``, the point's H3
cell at resolution 15 (``domain.POINT_H3_RES``) as a BIGINT (its H3 ancestors are bit
arithmetic on it; the cell *containing* the point at a coarser resolution may differ, which is
why incidents also store ``h3_5`` .. ``h3_11``), and ``micro_grid_id``, the micro-grid
containing the point (filled by a trigger on every insert and on every move, whatever the
writer). ``h3_coverage`` lists each H3
cell at resolution 11 (``domain.COVERAGE_RES``) whose centre lies in the county, with the
micro-grid holding that centre; coarser levels follow the foreign keys up.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from citybrain.domain import (
    ACTIVE_STATUSES,
    HEAT_RESOLUTIONS,
    HIERARCHY,
    KEY_ROLES,
    LOCATION_QUALITIES,
    OPEN_STATUSES,
    AlertKind,
    AlertStatus,
    Source,
    Status,
    TeamStatus,
    Tier,
)

SCHEMA = "citybrain"

POINT_TABLES = ("teams", "cameras", "facilities", "incidents")
# The layers a county's own data can be imported into (citybrain.importer.spec).
LAYER_TABLES = (*(name for name, _ in HIERARCHY), *POINT_TABLES)


class XID8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id (never wraps); read and written as text."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "xid8"


ischema_names["xid8"] = XID8  # so that reflection (alembic's comparisons) knows the type


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


def _polygon() -> Mapped:
    return mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=False), nullable=False)


class _Imported:
    """What every layer row carries about its origin (migration 0012): the import run that last
    inserted or changed it (NULL: made by citybrain) and the source's columns that no citybrain
    column takes (may hold personal data: never on a map layer)."""

    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    attributes: Mapped[dict | None] = mapped_column(JSONB)


class _Area(_Imported):
    """A polygon level; ``derived``: its geometry was built by citybrain (a village drawn around
    its committee's location), not surveyed."""

    derived: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


def _import_index(table: str) -> Index:
    return Index(f"ix_{table}_import_id", "import_id", postgresql_where="import_id IS NOT NULL")


def _point() -> Mapped:
    return mapped_column(Geometry("POINT", 4326, spatial_index=False), nullable=False)


def _gist(table: str) -> Index:
    return Index(f"ix_{table}_geom", "geom", postgresql_using="gist")


def _area_table_args(table: str, *extra) -> tuple:
    return (_gist(table), _import_index(table), *extra)


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Category(Base):
    """Incident categories with their time limits (the KPIs of grid management)."""

    __tablename__ = "categories"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name_en: Mapped[str] = mapped_column(Text, nullable=False)
    base_tier: Mapped[str] = mapped_column(Text, nullable=False)
    dispatch_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    resolve_hours: Mapped[int] = mapped_column(Integer, nullable=False)


# --- the five-level hierarchy ----------------------------------------------------------------


class Town(_Area, Base):
    """镇/街道."""

    __tablename__ = "towns"
    __table_args__ = _area_table_args("towns")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    geom = _polygon()


class Village(_Area, Base):
    """村/社区: ``kind`` is ``village`` or ``community``."""

    __tablename__ = "villages"
    __table_args__ = _area_table_args(
        "villages", CheckConstraint("kind IN ('village', 'community')", name="ck_villages_kind")
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), index=True, nullable=False)
    geom = _polygon()


class Grid(_Area, Base):
    """网格 (全科网格)."""

    __tablename__ = "grids"
    __table_args__ = _area_table_args("grids")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True, nullable=False)
    geom = _polygon()


class Compound(_Area, Base):
    """小区/村民小组: ``kind`` is ``compound`` or ``villager_group``."""

    __tablename__ = "compounds"
    __table_args__ = _area_table_args(
        "compounds",
        CheckConstraint("kind IN ('compound', 'villager_group')", name="ck_compounds_kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True, nullable=False)
    geom = _polygon()


class MicroGrid(_Area, Base):
    """微网格: a few dozen households."""

    __tablename__ = "micro_grids"
    __table_args__ = _area_table_args(
        "micro_grids",
        CheckConstraint("population >= 0 AND households >= 0", name="ck_micro_grids_people"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id"), index=True, nullable=False)
    population: Mapped[int] = mapped_column(Integer, nullable=False)
    households: Mapped[int] = mapped_column(Integer, nullable=False)
    geom = _polygon()


class H3Coverage(Base):
    """Resolution-11 H3 cells whose centre lies in the county, with their micro-grid."""

    __tablename__ = "h3_coverage"
    h3: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    micro_grid_id: Mapped[int] = mapped_column(
        ForeignKey("micro_grids.id", ondelete="CASCADE"), index=True, nullable=False
    )


# --- point tables ----------------------------------------------------------------------------


def _point_table_args(table: str, *extra) -> tuple:
    return (
        _gist(table),
        Index(f"ix_{table}_h3", "h3"),
        Index(f"ix_{table}_micro_grid_id", "micro_grid_id"),
        _import_index(table),
        # Resolution 15 is bits 52-55 of the index; cheap proof that the writer used POINT_H3_RES.
        CheckConstraint("(h3 >> 52) & 15 = 15", name=f"ck_{table}_h3_res"),
        *extra,
    )


class _PointMixin(_Imported):
    h3: Mapped[int] = mapped_column(BigInteger, nullable=False)
    micro_grid_id: Mapped[int | None] = mapped_column(ForeignKey("micro_grids.id"))
    geom = _point()


class Team(_PointMixin, Base):
    """网格团队 (网格连心、组团服务): one per grid; ``members`` is ``[{"name", "role"}]``."""

    __tablename__ = "teams"
    __table_args__ = _point_table_args(
        "teams",
        CheckConstraint(_in("status", TeamStatus), name="ck_teams_status"),
        CheckConstraint("capacity > 0", name="ck_teams_capacity"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    skills: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    members: Mapped[list[dict]] = mapped_column(JSONB, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    position_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Camera(_PointMixin, Base):
    """雪亮工程 cameras. ``heading`` (degrees clockwise from north) and ``fov`` (degrees) give
    the view sector, ``range_m`` its radius; a dome camera has ``fov`` 360."""

    __tablename__ = "cameras"
    __table_args__ = _point_table_args(
        "cameras",
        CheckConstraint("kind IN ('bullet', 'dome', 'face', 'plate')", name="ck_cameras_kind"),
        CheckConstraint("heading >= 0 AND heading < 360", name="ck_cameras_heading"),
        CheckConstraint("fov > 0 AND fov <= 360", name="ck_cameras_fov"),
        CheckConstraint("range_m > 0", name="ck_cameras_range"),
        # Bounds the search for cameras covering a point (see services.dispatch).
        CheckConstraint("range_m <= 500", name="ck_cameras_range_max"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    heading: Mapped[float] = mapped_column(Float, nullable=False)
    fov: Mapped[float] = mapped_column(Float, nullable=False)
    range_m: Mapped[float] = mapped_column(Float, nullable=False)
    online: Mapped[bool] = mapped_column(Boolean, nullable=False)
    owner: Mapped[str] = mapped_column(Text, nullable=False)


class Facility(_PointMixin, Base):
    """Cultural halls, party-and-people service centres (with ``level``), police posts,
    legal service points and mediation rooms."""

    __tablename__ = "facilities"
    __table_args__ = _point_table_args(
        "facilities",
        CheckConstraint(
            "kind IN ('cultural_hall', 'party_service_centre', 'police_post', "
            "'legal_service', 'mediation_room')",
            name="ck_facilities_kind",
        ),
        CheckConstraint(
            "(kind = 'party_service_centre') = (level IS NOT NULL) AND "
            "(level IS NULL OR level IN ('county', 'town', 'village', 'station'))",
            name="ck_facilities_level",
        ),
        Index("ix_facilities_kind", "kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    capacity: Mapped[int | None] = mapped_column(Integer)


class Incident(_PointMixin, Base):
    """事件. ``reporter_name``/``reporter_phone`` are personal data: never exposed to viewers."""

    __tablename__ = "incidents"
    __table_args__ = _point_table_args(
        "incidents",
        CheckConstraint(_in("status", Status), name="ck_incidents_status"),
        CheckConstraint(_in("tier", Tier), name="ck_incidents_tier"),
        CheckConstraint(_in("source", Source), name="ck_incidents_source"),
        CheckConstraint("severity BETWEEN 1 AND 4", name="ck_incidents_severity"),
        CheckConstraint(
            _in("location_quality", LOCATION_QUALITIES), name="ck_incidents_location_quality"
        ),
        *(
            CheckConstraint(f"(h3_{r} >> 52) & 15 = {r}", name=f"ck_incidents_h3_{r}_res")
            for r in HEAT_RESOLUTIONS
        ),
        CheckConstraint(
            "reported_at <= coalesce(dispatched_at, reported_at)"
            " AND coalesce(dispatched_at, reported_at) <= coalesce(on_site_at, 'infinity')"
            " AND coalesce(on_site_at, dispatched_at, reported_at)"
            " <= coalesce(resolved_at, 'infinity')"
            " AND coalesce(resolved_at, reported_at) <= coalesce(closed_at, 'infinity')",
            name="ck_incidents_timeline",
        ),
        Index("ix_incidents_reported_at", "reported_at"),
        # What changed since a transaction: how heatmap indexes catch up (services/heatmap/index).
        Index("ix_incidents_changed", "changed"),
        Index("ix_incidents_team_id", "team_id"),
        # What a team holds now: counted under its row lock on every assignment.
        Index(
            "ix_incidents_active_team",
            "team_id",
            postgresql_where=_in("status", ACTIVE_STATUSES),
        ),
        Index(
            "ix_incidents_open",
            "status",
            postgresql_where=_in("status", OPEN_STATUSES),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The source system's own number (a 12345 work order's 工单编号): what imports match on.
    external_id: Mapped[str | None] = mapped_column(Text, unique=True)
    # ``exact``, or the level of the area whose point stands in for an address (imports).
    location_quality: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'exact'")
    )
    category: Mapped[str] = mapped_column(ForeignKey("categories.name"), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    tier: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    on_site_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The cell containing the point at each heatmap resolution (h3.latlng_to_cell): H3 cells do
    # not nest exactly, so the parent of the resolution-15 cell is not always the cell that
    # contains the point (at resolution 5, for about one point in six).
    h3_5: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_6: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_7: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_8: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_9: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_10: Mapped[int] = mapped_column(BigInteger, nullable=False)
    h3_11: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The transaction that inserted the row or last changed its time, category, status or cells
    # (the column default and a trigger set it; migration 0007).
    changed: Mapped[str] = mapped_column(
        XID8, nullable=False, server_default=text("pg_current_xact_id()")
    )


class H3Face(Base):
    """H3's grid constants, read by ``citybrain.h3_latlng_to_cells`` (migration 0010): per
    icosahedron face its centre (radians, and as a unit vector), the azimuth of its Class II
    i axis, and at each resolution-0 position (i, j, k in 0..2; element 9i + 3j + k + 1) the
    base cell there and the 60-degree counter-clockwise turns into that cell's orientation."""

    __tablename__ = "h3_faces"
    face: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lng: Mapped[float] = mapped_column(Float, nullable=False)
    x: Mapped[float] = mapped_column(Float, nullable=False)
    y: Mapped[float] = mapped_column(Float, nullable=False)
    z: Mapped[float] = mapped_column(Float, nullable=False)
    i_azimuth: Mapped[float] = mapped_column(Float, nullable=False)
    base_cells: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)
    ccw_rotations: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)


class IncidentDeletion(Base):
    """Which incidents were deleted, by which transaction (a trigger writes it; a truncate of
    ``incidents`` empties it and bumps ``meta.incidents_generation`` instead)."""

    __tablename__ = "incident_deletions"
    __table_args__ = (PrimaryKeyConstraint("xid", "id"),)
    xid: Mapped[str] = mapped_column(XID8, server_default=text("pg_current_xact_id()"))
    id: Mapped[int] = mapped_column(BigInteger, autoincrement=False)


class IncidentEvent(Base):
    """The audit trail: every transition of every incident, with who made it."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # report, assign, status, escalate
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    from_tier: Mapped[str | None] = mapped_column(Text)
    to_tier: Mapped[str | None] = mapped_column(Text)
    team_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """``Idempotency-Key`` of incident intake: a retried report returns the first incident."""

    __tablename__ = "idempotency_keys"
    actor: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text, nullable=False)
    # Empty only inside the transaction that claims the key and reports the incident.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )


class RoadVertex(Base):
    """Road network nodes (pgRouting's vertices table)."""

    __tablename__ = "road_vertices"
    __table_args__ = (_gist("road_vertices"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    geom = _point()


class Road(Base):
    """Road network edges in pgRouting's layout: ``cost``/``reverse_cost`` are travel seconds."""

    __tablename__ = "roads"
    __table_args__ = (
        _gist("roads"),
        CheckConstraint("class IN ('arterial', 'street', 'rural')", name="ck_roads_class"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[int] = mapped_column(ForeignKey("road_vertices.id"), index=True, nullable=False)
    target: Mapped[int] = mapped_column(ForeignKey("road_vertices.id"), index=True, nullable=False)
    klass: Mapped[str] = mapped_column("class", Text, nullable=False)
    length_m: Mapped[float] = mapped_column(Float, nullable=False)
    cost: Mapped[float] = mapped_column(Float, nullable=False)
    reverse_cost: Mapped[float] = mapped_column(Float, nullable=False)
    geom = mapped_column(Geometry("LINESTRING", 4326, spatial_index=False), nullable=False)


class TileVersion(Base):
    """How often the features of ``tbl`` in tile z/x/y have changed: triggers on every source
    table count each write into the tiles its geometry touches (x = y = -1: every tile of the
    zoom; z = -1: every tile). A tile's version is the sum of its rows, so a cached tile is
    current exactly as long as the sum has not moved."""

    __tablename__ = "tile_versions"
    __table_args__ = (PrimaryKeyConstraint("tbl", "z", "x", "y"),)
    tbl: Mapped[str] = mapped_column(Text)
    z: Mapped[int] = mapped_column(SmallInteger)
    x: Mapped[int] = mapped_column(Integer, autoincrement=False)
    y: Mapped[int] = mapped_column(Integer, autoincrement=False)
    v: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Import(Base):
    """One import run that wrote (``citybrain import``, ``POST /imports/{layer}``): its source,
    options, who ran it, and what it did. Layer rows point here with ``import_id``."""

    __tablename__ = "imports"
    __table_args__ = (CheckConstraint(_in("layer", LAYER_TABLES), name="ck_imports_layer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer: Mapped[str] = mapped_column(Text, nullable=False)
    source_name: Mapped[str] = mapped_column(Text, nullable=False)
    source_sha256: Mapped[str] = mapped_column(Text, nullable=False)
    options: Mapped[dict] = mapped_column(JSONB, nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    inserted: Mapped[int] = mapped_column(Integer, nullable=False)
    updated: Mapped[int] = mapped_column(Integer, nullable=False)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False)
    repaired: Mapped[int] = mapped_column(Integer, nullable=False)


class ApiKey(Base):
    """An API key (``citybrain keys``): its name, role and SHA-256; never the key itself."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("name ~ '^[A-Za-z0-9_.@-]{1,64}$'", name="ck_api_keys_name"),
        CheckConstraint(_in("role", KEY_ROLES), name="ck_api_keys_role"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Meta(Base):
    """Small key/value facts about the loaded data (e.g. ``roads_version``)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class Alert(Base):
    """An early warning (``citybrain.brain``): an area where something unusual is going on,
    found by a detector, kept as one row while it lasts (a growing cluster updates it)."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_in("kind", AlertKind), name="ck_alerts_kind"),
        CheckConstraint(_in("status", AlertStatus), name="ck_alerts_status"),
        _gist("alerts"),
        Index("ix_alerts_active", "detector", "category", postgresql_where=text("active")),
        Index("ix_alerts_updated", "updated_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    detector: Mapped[str] = mapped_column(Text, nullable=False)  # its file's name in alerts/
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str | None] = mapped_column(Text)  # None: every category
    level: Mapped[str] = mapped_column(Text, nullable=False)  # compounds, villages, h3_9, ...
    area_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    area_name: Mapped[str] = mapped_column(Text, nullable=False)
    geom = _polygon()
    summary: Mapped[str] = mapped_column(Text, nullable=False)  # what is unusual, in one line
    observed: Mapped[int] = mapped_column(Integer, nullable=False)
    expected: Mapped[float | None] = mapped_column(Float)
    statistic: Mapped[float] = mapped_column(Float, nullable=False)
    p_value: Mapped[float | None] = mapped_column(Float)
    recurrence_days: Mapped[float | None] = mapped_column(Float)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    incident_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'new'"))
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )


class AlertEvent(Base):
    """The alerts' audit trail (append-only): who acknowledged, dispatched, closed, snoozed."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert", "alert_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # raise, ack, dispatch, close, snooze
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DetectorRun(Base):
    """One run of one detector: when, how long, what it found (the runner's schedule and the
    cost a command centre watches)."""

    __tablename__ = "detector_runs"
    __table_args__ = (Index("ix_detector_runs_detector", "detector", "started_at"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    detector: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    found: Mapped[int] = mapped_column(Integer, nullable=False)
    raised: Mapped[int] = mapped_column(Integer, nullable=False)


class Outbreak(Base):
    """Ground truth of the synthetic county: a cluster ``citybrain seed --outbreaks`` put in."""

    __tablename__ = "outbreaks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    compound_code: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    geom = _point()
    incident_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)


# Tables that map layers draw; triggers count their writes into tile_versions (migration 0004).
TILED_TABLES = (*LAYER_TABLES, "roads", "alerts")
