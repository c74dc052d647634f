-- The schema's migration revision (alembic's version table).
SELECT version_num FROM citybrain.alembic_version LIMIT 1
