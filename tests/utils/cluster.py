"""A PostgreSQL cluster of a test module's own (migrated, on a free port), that its tests may
stop and start without touching the others' database."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from citybrain.db import cluster
from citybrain.db.connection import get_engine
from citybrain.db.migrate import upgrade
from citybrain.settings import Settings
from tests.utils.server import free_ports


@contextmanager
def own_cluster(prefix: str = "citybrain-own-") -> Iterator[Settings]:
    """The settings of a fresh, migrated cluster, stopped (with any standby of it) and removed
    afterwards."""
    data = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(data, 0o755)
    settings = Settings(data_dir=data, pg_port=free_ports(2), database_url=None)
    cluster.up(settings)
    engine = get_engine(settings.sqlalchemy_url)
    upgrade(engine)
    engine.dispose()
    try:
        yield settings
    finally:
        for n in (1, 2):
            cluster.down_replica(settings, n)
        cluster.down(settings)
        shutil.rmtree(data, ignore_errors=True)
