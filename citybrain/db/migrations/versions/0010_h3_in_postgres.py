"""H3 cells computed by PostgreSQL: every point gets its cells however it arrives.

``citybrain.h3_latlng_to_cell(lat, lng, res)`` is H3's ``latLngToCell`` in PL/pgSQL (no
extension needed; PostgreSQL here has no h3-pg): the point's icosahedron face and gnomonic
position on it, the hexagon there at the resolution, its digits read off by aperture-7 steps
up to resolution 0, and the base cell and rotation from H3's table of faces. The grid's
constants (face centres and axes, which base cell lies at each resolution-0 position of each
face) are the ones H3 defines; they live in one small table, ``citybrain.h3_faces``.
``h3_latlng_to_cells`` gives several resolutions in one call (the face is found once): ~30 us
for one, ~115 us for the eight an incident carries. The SQL, constants included, is
``sql/0010_h3_in_postgres.sql``.

A BEFORE trigger on every point table sets ``h3`` (resolution 15) and, for incidents,
``h3_5`` .. ``h3_11`` on every insert and on every update of the point or its cells, whatever
the writer sent: a row can no longer carry a cell of another place. Only a writer that says
it computed them itself with H3 (``SET LOCAL citybrain.cells_given = on``: the bulk loader,
which does it in a vectorised pass) skips the work. This replaces migration 0008's guard,
which could only refuse moves that certainly left a cell stale.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
POINT_TABLES = ("teams", "cameras", "facilities", "incidents")


def upgrade() -> None:
    # 0008's guard goes (its downgrade, as it was).
    for table in POINT_TABLES:
        op.execute(f"DROP TRIGGER {table}_stale_cells ON citybrain.{table}")
    op.execute("DROP FUNCTION citybrain.refuse_stale_cells()")
    # h3_faces and its constants, the functions, the triggers.
    op.execute((SQL / "0010_h3_in_postgres.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    for table in POINT_TABLES:
        op.execute(f"DROP TRIGGER {table}_cells ON citybrain.{table}")
    # 0008's guard back, from its frozen SQL file.
    op.execute((SQL / "0008_stale_cells_guard.sql").read_text(encoding="utf-8"))
    op.execute("DROP FUNCTION citybrain.fill_cells()")
    op.execute("DROP FUNCTION citybrain.h3_latlng_to_cell(float8, float8, integer)")
    op.execute("DROP FUNCTION citybrain.h3_latlng_to_cells(float8, float8, integer[])")
    op.execute("DROP TABLE citybrain.h3_faces")
