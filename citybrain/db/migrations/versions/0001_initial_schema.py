"""Initial schema: the five-level hierarchy, point tables, H3 coverage and the trigger that
gives every point its micro-grid.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from pathlib import Path

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"
# The categories as citybrain.domain had them when this migration was written, frozen here
# (the live list may change; a change to these rows is a migration of its own).
# name, slug, name_en, base_tier, dispatch_minutes, resolve_hours
CATEGORIES = (
    ("矛盾纠纷", "dispute", "dispute", "village", 30, 72),
    ("治安", "public_order", "public order", "village", 15, 24),
    ("消防", "fire_hazard", "fire hazard", "village", 15, 24),
    ("安全生产", "work_safety", "work safety", "town", 30, 48),
    ("环境", "environment", "environment", "village", 60, 72),
    ("食品安全", "food_safety", "food safety", "town", 60, 48),
    ("交通", "traffic", "traffic", "village", 15, 12),
    ("出租房屋", "rental_housing", "rental housing", "village", 120, 168),
    ("城市管理", "urban_management", "urban management", "village", 60, 72),
    ("民生诉求", "livelihood", "livelihood request", "village", 120, 168),
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "categories",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("base_tier", sa.Text(), nullable=False),
        sa.Column("dispatch_minutes", sa.Integer(), nullable=False),
        sa.Column("resolve_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("slug"),
        schema="citybrain",
    )
    op.create_table(
        "towns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
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
        sa.UniqueConstraint("code"),
        schema="citybrain",
    )
    op.create_index(
        "ix_towns_geom",
        "towns",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_table(
        "villages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("town_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('village', 'community')", name="ck_villages_kind"),
        sa.ForeignKeyConstraint(
            ["town_id"],
            ["citybrain.towns.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="citybrain",
    )
    op.create_index(
        op.f("ix_citybrain_villages_town_id"),
        "villages",
        ["town_id"],
        unique=False,
        schema="citybrain",
    )
    op.create_index(
        "ix_villages_geom",
        "villages",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["citybrain.villages.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="citybrain",
    )
    op.create_index(
        op.f("ix_citybrain_grids_village_id"),
        "grids",
        ["village_id"],
        unique=False,
        schema="citybrain",
    )
    op.create_index(
        "ix_grids_geom",
        "grids",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_table(
        "compounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('compound', 'villager_group')", name="ck_compounds_kind"),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["citybrain.grids.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="citybrain",
    )
    op.create_index(
        op.f("ix_citybrain_compounds_grid_id"),
        "compounds",
        ["grid_id"],
        unique=False,
        schema="citybrain",
    )
    op.create_index(
        "ix_compounds_geom",
        "compounds",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_table(
        "micro_grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("compound_id", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("population >= 0 AND households >= 0", name="ck_micro_grids_people"),
        sa.ForeignKeyConstraint(
            ["compound_id"],
            ["citybrain.compounds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="citybrain",
    )
    op.create_index(
        op.f("ix_citybrain_micro_grids_compound_id"),
        "micro_grids",
        ["compound_id"],
        unique=False,
        schema="citybrain",
    )
    op.create_index(
        "ix_micro_grids_geom",
        "micro_grids",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("heading", sa.Float(), nullable=False),
        sa.Column("fov", sa.Float(), nullable=False),
        sa.Column("range_m", sa.Float(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("h3", sa.BigInteger(), nullable=False),
        sa.Column("micro_grid_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint("kind IN ('bullet', 'dome', 'face', 'plate')", name="ck_cameras_kind"),
        sa.CheckConstraint("(h3 >> 52) & 15 = 15", name="ck_cameras_h3_res"),
        sa.CheckConstraint("fov > 0 AND fov <= 360", name="ck_cameras_fov"),
        sa.CheckConstraint("heading >= 0 AND heading < 360", name="ck_cameras_heading"),
        sa.CheckConstraint("range_m > 0", name="ck_cameras_range"),
        sa.ForeignKeyConstraint(
            ["micro_grid_id"],
            ["citybrain.micro_grids.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="citybrain",
    )
    op.create_index(
        "ix_cameras_geom",
        "cameras",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_index("ix_cameras_h3", "cameras", ["h3"], unique=False, schema="citybrain")
    op.create_index(
        "ix_cameras_micro_grid_id", "cameras", ["micro_grid_id"], unique=False, schema="citybrain"
    )
    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("h3", sa.BigInteger(), nullable=False),
        sa.Column("micro_grid_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint(
            "(kind = 'party_service_centre') = (level IS NOT NULL) AND (level IS NULL OR level IN ('county', 'town', 'village', 'station'))",
            name="ck_facilities_level",
        ),
        sa.CheckConstraint(
            "kind IN ('cultural_hall', 'party_service_centre', 'police_post', 'legal_service', 'mediation_room')",
            name="ck_facilities_kind",
        ),
        sa.CheckConstraint("(h3 >> 52) & 15 = 15", name="ck_facilities_h3_res"),
        sa.ForeignKeyConstraint(
            ["micro_grid_id"],
            ["citybrain.micro_grids.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="citybrain",
    )
    op.create_index(
        "ix_facilities_geom",
        "facilities",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_index("ix_facilities_h3", "facilities", ["h3"], unique=False, schema="citybrain")
    op.create_index("ix_facilities_kind", "facilities", ["kind"], unique=False, schema="citybrain")
    op.create_index(
        "ix_facilities_micro_grid_id",
        "facilities",
        ["micro_grid_id"],
        unique=False,
        schema="citybrain",
    )
    op.create_table(
        "h3_coverage",
        sa.Column("h3", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("micro_grid_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["micro_grid_id"], ["citybrain.micro_grids.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("h3"),
        schema="citybrain",
    )
    op.create_index(
        op.f("ix_citybrain_h3_coverage_micro_grid_id"),
        "h3_coverage",
        ["micro_grid_id"],
        unique=False,
        schema="citybrain",
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("skills", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("members", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("position_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("h3", sa.BigInteger(), nullable=False),
        sa.Column("micro_grid_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint("status IN ('available', 'busy', 'off_duty')", name="ck_teams_status"),
        sa.CheckConstraint("(h3 >> 52) & 15 = 15", name="ck_teams_h3_res"),
        sa.CheckConstraint("capacity > 0", name="ck_teams_capacity"),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["citybrain.grids.id"],
        ),
        sa.ForeignKeyConstraint(
            ["micro_grid_id"],
            ["citybrain.micro_grids.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="citybrain",
    )
    op.create_index(
        op.f("ix_citybrain_teams_grid_id"), "teams", ["grid_id"], unique=False, schema="citybrain"
    )
    op.create_index(
        "ix_teams_geom",
        "teams",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_index("ix_teams_h3", "teams", ["h3"], unique=False, schema="citybrain")
    op.create_index(
        "ix_teams_micro_grid_id", "teams", ["micro_grid_id"], unique=False, schema="citybrain"
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_site_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("reporter_name", sa.Text(), nullable=True),
        sa.Column("reporter_phone", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("h3", sa.BigInteger(), nullable=False),
        sa.Column("micro_grid_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint(
            "reported_at <= coalesce(dispatched_at, reported_at) AND coalesce(dispatched_at, reported_at) <= coalesce(on_site_at, 'infinity') AND coalesce(on_site_at, dispatched_at, reported_at) <= coalesce(resolved_at, 'infinity') AND coalesce(resolved_at, reported_at) <= coalesce(closed_at, 'infinity')",
            name="ck_incidents_timeline",
        ),
        sa.CheckConstraint(
            "source IN ('grid_patrol', 'citizen_app', 'hotline_12345', 'camera_ai')",
            name="ck_incidents_source",
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'dispatched', 'on_site', 'resolved', 'closed', 'escalated')",
            name="ck_incidents_status",
        ),
        sa.CheckConstraint("tier IN ('village', 'town', 'county')", name="ck_incidents_tier"),
        sa.CheckConstraint("(h3 >> 52) & 15 = 15", name="ck_incidents_h3_res"),
        sa.CheckConstraint("severity BETWEEN 1 AND 4", name="ck_incidents_severity"),
        sa.ForeignKeyConstraint(
            ["category"],
            ["citybrain.categories.name"],
        ),
        sa.ForeignKeyConstraint(
            ["micro_grid_id"],
            ["citybrain.micro_grids.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["citybrain.teams.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="citybrain",
    )
    op.create_index(
        "ix_incidents_geom",
        "incidents",
        ["geom"],
        unique=False,
        schema="citybrain",
        postgresql_using="gist",
    )
    op.create_index("ix_incidents_h3", "incidents", ["h3"], unique=False, schema="citybrain")
    op.create_index(
        "ix_incidents_micro_grid_id",
        "incidents",
        ["micro_grid_id"],
        unique=False,
        schema="citybrain",
    )
    op.create_index(
        "ix_incidents_open",
        "incidents",
        ["status"],
        unique=False,
        schema="citybrain",
        postgresql_where="status IN ('reported', 'dispatched', 'on_site', 'escalated')",
    )
    op.create_index(
        "ix_incidents_reported_at", "incidents", ["reported_at"], unique=False, schema="citybrain"
    )
    op.create_index(
        "ix_incidents_team_id", "incidents", ["team_id"], unique=False, schema="citybrain"
    )

    op.bulk_insert(
        sa.table(
            "categories",
            *(
                sa.column(c)
                for c in (
                    "name",
                    "slug",
                    "name_en",
                    "base_tier",
                    "dispatch_minutes",
                    "resolve_hours",
                )
            ),
            schema="citybrain",
        ),
        [
            dict(
                zip(
                    ("name", "slug", "name_en", "base_tier", "dispatch_minutes", "resolve_hours"),
                    c,
                    strict=True,
                )
            )
            for c in CATEGORIES
        ],
    )
    # The micro-grid of every point, found by triggers whoever writes it.
    op.execute((SQL / "0001_initial_schema.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.drop_index("ix_incidents_team_id", table_name="incidents", schema="citybrain")
    op.drop_index("ix_incidents_reported_at", table_name="incidents", schema="citybrain")
    op.drop_index(
        "ix_incidents_open",
        table_name="incidents",
        schema="citybrain",
        postgresql_where="status IN ('reported', 'dispatched', 'on_site', 'escalated')",
    )
    op.drop_index("ix_incidents_micro_grid_id", table_name="incidents", schema="citybrain")
    op.drop_index("ix_incidents_h3", table_name="incidents", schema="citybrain")
    op.drop_index(
        "ix_incidents_geom", table_name="incidents", schema="citybrain", postgresql_using="gist"
    )
    op.drop_table("incidents", schema="citybrain")
    op.drop_index("ix_teams_micro_grid_id", table_name="teams", schema="citybrain")
    op.drop_index("ix_teams_h3", table_name="teams", schema="citybrain")
    op.drop_index("ix_teams_geom", table_name="teams", schema="citybrain", postgresql_using="gist")
    op.drop_index(op.f("ix_citybrain_teams_grid_id"), table_name="teams", schema="citybrain")
    op.drop_table("teams", schema="citybrain")
    op.drop_index(
        op.f("ix_citybrain_h3_coverage_micro_grid_id"), table_name="h3_coverage", schema="citybrain"
    )
    op.drop_table("h3_coverage", schema="citybrain")
    op.drop_index("ix_facilities_micro_grid_id", table_name="facilities", schema="citybrain")
    op.drop_index("ix_facilities_kind", table_name="facilities", schema="citybrain")
    op.drop_index("ix_facilities_h3", table_name="facilities", schema="citybrain")
    op.drop_index(
        "ix_facilities_geom", table_name="facilities", schema="citybrain", postgresql_using="gist"
    )
    op.drop_table("facilities", schema="citybrain")
    op.drop_index("ix_cameras_micro_grid_id", table_name="cameras", schema="citybrain")
    op.drop_index("ix_cameras_h3", table_name="cameras", schema="citybrain")
    op.drop_index(
        "ix_cameras_geom", table_name="cameras", schema="citybrain", postgresql_using="gist"
    )
    op.drop_table("cameras", schema="citybrain")
    op.drop_index(
        "ix_micro_grids_geom", table_name="micro_grids", schema="citybrain", postgresql_using="gist"
    )
    op.drop_index(
        op.f("ix_citybrain_micro_grids_compound_id"), table_name="micro_grids", schema="citybrain"
    )
    op.drop_table("micro_grids", schema="citybrain")
    op.drop_index(
        "ix_compounds_geom", table_name="compounds", schema="citybrain", postgresql_using="gist"
    )
    op.drop_index(
        op.f("ix_citybrain_compounds_grid_id"), table_name="compounds", schema="citybrain"
    )
    op.drop_table("compounds", schema="citybrain")
    op.drop_index("ix_grids_geom", table_name="grids", schema="citybrain", postgresql_using="gist")
    op.drop_index(op.f("ix_citybrain_grids_village_id"), table_name="grids", schema="citybrain")
    op.drop_table("grids", schema="citybrain")
    op.drop_index(
        "ix_villages_geom", table_name="villages", schema="citybrain", postgresql_using="gist"
    )
    op.drop_index(op.f("ix_citybrain_villages_town_id"), table_name="villages", schema="citybrain")
    op.drop_table("villages", schema="citybrain")
    op.drop_index("ix_towns_geom", table_name="towns", schema="citybrain", postgresql_using="gist")
    op.drop_table("towns", schema="citybrain")
    op.drop_table("categories", schema="citybrain")
    op.execute("DROP FUNCTION citybrain.fill_micro_grid()")
    op.execute("DROP FUNCTION citybrain.micro_grid_at(geometry)")
    op.execute("DROP FUNCTION citybrain.area_m2(geometry)")
