"""The map's layers as the tests expect them: each is a tile layer, an OGC collection and a
group on the big screen. Written out here, not read from ``layers/``, so that a layer file
dropped or added there is noticed."""

from __future__ import annotations

LAYERS = (
    "towns",
    "villages",
    "grids",
    "compounds",
    "micro_grids",
    "roads",
    "teams",
    "cameras",
    "facilities",
    "incidents",
    "alerts",
)
