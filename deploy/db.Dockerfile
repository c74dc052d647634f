# The database image of docker-compose.yml (db, primary, replica): PostGIS, and pgRouting for
# road routes (GET /teams/{id}/route runs pgr_dijkstra). The base image already installs from
# the PostgreSQL project's apt repository; pgRouting comes from the same one. A standby must
# carry the same extensions as its primary, so all three database services use this image.
# The packages are the ones citybrain.db.cluster.EXTENSIONS names (tests/test_compose.py).
FROM postgis/postgis:15-3.4
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15-pgrouting \
    && rm -rf /var/lib/apt/lists/*
