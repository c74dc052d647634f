"""The incident index: every incident's report time, category, status and H3 cell at
resolutions 5-11 (``incidents.h3_<res>``, exact ``latlng_to_cell``) in memory, in numpy arrays
sorted by time, one per server process. It answers "how many incidents per cell, of this
window, these categories and statuses, at this resolution" with two binary searches and one
count over the window's slice (``np.bincount`` on each cell's position in the sorted list of
cells): a year at resolution 11 costs milliseconds, a day microseconds, and no request scans or
groups rows in the database. Heatmaps and hotspots (``services.heatmap``), the incident layer's
clusters in tiles (``citybrain.tiles``), /metrics (the ``citybrain_heat_index_*`` gauges) and
readiness (``loaded``) read it.

Never stale. Before every answer the index asks the database what changed since it last
looked; when nothing did, that is one statement reading two index ends
(``sql/incident_index/snapshot.sql``). Each incident carries the transaction that last changed
what the index holds (``incidents.changed``, xid8, set by the column default and a trigger:
migration 0007), deleted ids are logged in ``incident_deletions``, and a truncate bumps
``meta.incidents_generation``. The index keeps the snapshot of its last look (its xmax and the
transactions then in progress) and next reads the rows stamped by those or by later
transactions (``changes.sql``). That misses nothing, whatever the order in which transactions
commit: one that commits after a snapshot was in progress in it or began after it. Rows are
applied by id, in their current state, so reading one twice is harmless.

Changed rows go to a small overlay beside the sorted base (their base rows masked out); past
``REBUILD_AT`` overlay rows the base is rebuilt in memory; a look that finds more than
``RELOAD_AT`` rows (a bulk load) or a new generation reloads everything (about two seconds per
million incidents). A windowed layer's cells are kept per window and followed through the same
changes (``windows``), so they are as current as the counts.

One base per machine (``CITYBRAIN_HEAT_SHARED``, on by default): the sorted base is a file that
every server process maps read-only (``shared``), built by one process and mapped by the
others; the overlay, the mask of changed rows and the cells' centres stay each process's own. A
base file says which snapshot it reflects, so a process that maps one catches up from there
exactly as from a load of its own. Whoever passes ``REBUILD_AT`` first folds and publishes a
new base; the others switch to it at their next look (which, like a reload, breaks their chain
of deltas: windows are counted once again). Without sharing, or when it fails (no room in
/dev/shm), each process holds its own base.

The interface is what this module exports: ``IncidentIndex`` (``fresh``, ``counts``,
``centres``, ``shown_cells``, ``loaded``, ``len``), the ``Cells`` it answers tiles with, and
``shared_directory`` (where a database's shared files are). The modules beside it are the
index's own, imported by nothing outside this package: ``rows`` (the arrays and the codes in
them), ``index`` (keeping current, reading), ``windows`` (a windowed layer's cells, followed by
delta), ``shared`` (the machine's one base).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from citybrain.services.incident_index.index import REBUILD_AT, RELOAD_AT, IncidentIndex
from citybrain.services.incident_index.rows import LAYOUT
from citybrain.services.incident_index.shared import directory
from citybrain.services.incident_index.windows import Cells
from citybrain.sql import load

__all__ = ["REBUILD_AT", "RELOAD_AT", "Cells", "IncidentIndex", "shared_directory"]


def shared_directory(conn: psycopg.Connection, root: Path) -> Path:
    """Where the shared files of ``conn``'s database lie under ``root``
    (``CITYBRAIN_HEAT_SHARED_DIR``), for a look from outside the server (benchmarks)."""
    row = conn.execute(load("incident_index/identity")).fetchone()
    if row is None:
        raise RuntimeError("identity.sql returned no row")
    return directory(root, tuple(row), LAYOUT)
