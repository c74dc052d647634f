"""Dispatch: the incident audit trail, idempotent intake, the road network (pgRouting layout)
and an index of each team's active incidents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint(
        "ck_cameras_range_max", "cameras", "range_m <= 500", schema="citybrain"
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        schema="citybrain",
    )
    op.create_table(
        "road_vertices",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="citybrain",
    )
    op.create_index(
        "ix_road_vertices_geom",
        "road_vertices",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_table(
        "roads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("class", sa.Text(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("reverse_cost", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("class IN ('arterial', 'street', 'rural')", name="ck_roads_class"),
        sa.ForeignKeyConstraint(
            ["source"],
            ["citybrain.road_vertices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["target"],
            ["citybrain.road_vertices.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="citybrain",
    )
    op.create_index(
        op.f("ix_citybrain_roads_source"), "roads", ["source"], unique=False, schema="citybrain"
    )
    op.create_index(
        op.f("ix_citybrain_roads_target"), "roads", ["target"], unique=False, schema="citybrain"
    )
    op.create_index(
        "ix_roads_geom",
        "roads",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["incident_id"], ["citybrain.incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("actor", "key"),
        schema="citybrain",
    )
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=True),
        sa.Column("from_tier", sa.Text(), nullable=True),
        sa.Column("to_tier", sa.Text(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["citybrain.incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="citybrain",
    )
    op.create_index(
        "ix_incident_events_incident",
        "incident_events",
        ["incident_id", "id"],
        unique=False,
        schema="citybrain",
    )
    op.create_index(
        "ix_incidents_active_team",
        "incidents",
        ["team_id"],
        unique=False,
        schema="citybrain",
        postgresql_where="status IN ('dispatched', 'on_site')",
    )


def downgrade() -> None:
    op.drop_constraint("ck_cameras_range_max", "cameras", schema="citybrain")
    op.drop_index(
        "ix_incidents_active_team",
        table_name="incidents",
        schema="citybrain",
        postgresql_where="status IN ('dispatched', 'on_site')",
    )
    op.drop_index("ix_incident_events_incident", table_name="incident_events", schema="citybrain")
    op.drop_table("incident_events", schema="citybrain")
    op.drop_table("idempotency_keys", schema="citybrain")
    op.drop_index("ix_roads_geom", table_name="roads", schema="citybrain", postgresql_using="gist")
    op.drop_index(op.f("ix_citybrain_roads_target"), table_name="roads", schema="citybrain")
    op.drop_index(op.f("ix_citybrain_roads_source"), table_name="roads", schema="citybrain")
    op.drop_table("roads", schema="citybrain")
    op.drop_index(
        "ix_road_vertices_geom",
        table_name="road_vertices",
        schema="citybrain",
        postgresql_using="gist",
    )
    op.drop_table("road_vertices", schema="citybrain")
    op.drop_table("meta", schema="citybrain")
