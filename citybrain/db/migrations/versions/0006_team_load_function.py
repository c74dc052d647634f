"""One definition of a team's load: the incidents it holds now (dispatched or on site), which
assignment checks against its capacity and every team view shows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE FUNCTION citybrain.team_active(team integer) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT count(*) FROM citybrain.incidents
    WHERE team_id = team AND status IN ('dispatched', 'on_site')  -- ix_incidents_active_team
$$;
""")


def downgrade() -> None:
    op.execute("DROP FUNCTION citybrain.team_active(integer)")
