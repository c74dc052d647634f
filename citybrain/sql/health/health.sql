-- What /healthz reports: PostGIS, the schema's revision, and about how many incidents there are
-- (the planner's estimate: no count over a large table).
SELECT postgis_lib_version(),
       (SELECT version_num FROM citybrain.alembic_version LIMIT 1),
       (SELECT greatest(reltuples, 0)::bigint FROM pg_class
         WHERE oid = 'citybrain.incidents'::regclass)
