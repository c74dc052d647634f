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

One module per concern, each a set of tables built on ``base``: ``hierarchy``, ``points``,
``incidents``, ``field``, ``roads``, ``alerts``, ``imports``, ``keys``, ``people``, ``limits``,
``versions``. A new table goes into the module of its concern, or a new module here imported below:
``Base.metadata`` holds only the models imported, and it is what the migrations are compared
with (tests/test_schema.py).
"""

from citybrain.db.models.alerts import Alert, AlertEvent, DetectorRun, Outbreak
from citybrain.db.models.base import SCHEMA, XID8, Base
from citybrain.db.models.field import IncidentPhoto, Patrol, PatrolPoint, Photo
from citybrain.db.models.hierarchy import (
    Compound,
    Grid,
    H3Coverage,
    H3Face,
    MicroGrid,
    Town,
    Village,
)
from citybrain.db.models.imports import Import
from citybrain.db.models.incidents import (
    CaseFile,
    Category,
    IdempotencyKey,
    Incident,
    IncidentDeletion,
    IncidentEvent,
)
from citybrain.db.models.keys import ApiKey
from citybrain.db.models.limits import TimeLimit, WorkPeriod
from citybrain.db.models.people import AccessLog, Department, LoginFailure, Session, User
from citybrain.db.models.points import POINT_TABLES, Camera, Facility, Team
from citybrain.db.models.roads import Road, RoadVertex
from citybrain.db.models.versions import Meta, TileVersion

__all__ = [
    "POINT_TABLES",
    "SCHEMA",
    "XID8",
    "AccessLog",
    "Alert",
    "AlertEvent",
    "ApiKey",
    "Base",
    "Camera",
    "CaseFile",
    "Category",
    "Compound",
    "DetectorRun",
    "Facility",
    "Grid",
    "H3Coverage",
    "H3Face",
    "IdempotencyKey",
    "Import",
    "Incident",
    "IncidentDeletion",
    "IncidentEvent",
    "IncidentPhoto",
    "Patrol",
    "PatrolPoint",
    "Photo",
    "LoginFailure",
    "Meta",
    "MicroGrid",
    "Outbreak",
    "Road",
    "RoadVertex",
    "Session",
    "Team",
    "TimeLimit",
    "TileVersion",
    "Town",
    "User",
    "Department",
    "Village",
    "WorkPeriod",
]
