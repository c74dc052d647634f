"""Alembic environment: run by ``citybrain db migrate`` (see ``citybrain.db.migrate``)."""

from alembic import context
from sqlalchemy import create_engine, text

from citybrain.db.models import SCHEMA, Base

config = context.config


def include_object(obj, name, type_, reflected, compare_to):
    # PostGIS and pgRouting own tables in other schemas (spatial_ref_sys, ...): not ours.
    schema = getattr(obj, "schema", None) or getattr(getattr(obj, "table", None), "schema", None)
    return schema == SCHEMA


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = create_engine(config.get_main_option("sqlalchemy.url"))
    with connectable.connect() if hasattr(connectable, "connect") else connectable as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        context.configure(
            connection=conn,
            target_metadata=Base.metadata,
            version_table_schema=SCHEMA,
            include_schemas=True,
            include_object=include_object,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if hasattr(conn, "commit"):
            conn.commit()


run_migrations_online()
