"""Early warning (预测预警): the detectors that say "this is new and unusual, look here now",
and the alerts they raise. This package owns all of it:

- ``detector``: the detector files (``alerts/*.yaml``, ``CITYBRAIN_ALERTS_DIR``), the model
  every kind shares, the registry of kinds (``register``), one run (``Run``, ``Finding``);
- ``kinds``: the kinds citybrain ships — ``scan``, ``ears``, ``rule`` (``count``, ``overdue``,
  ``cameras_offline``);
- ``data``, ``scan``, ``ears``: what detectors read, as arrays, and the statistics on them
  (pure functions);
- ``store``: alerts kept one row per unusual area while it lasts, and the duty officer's
  lifecycle; ``runner``: the detectors run on schedule by one server process;
- ``sql/``: their statements (read by ``citybrain.sql``'s loader).

A new kind is one class, here or in a module named in ``CITYBRAIN_ALERTS_MODULES``
(docs/architecture.md, "Recipe: a new detector kind"). Not here: the HTTP routes
(``api/routers/alerts.py``) and the map layer (``layers/alerts.yaml``).

The names below are the package's interface for the server, the command and the planners'
replays (``citybrain.analysis.early_warning``).
"""

from citybrain.alerts import ears, kinds
from citybrain.alerts.data import Areas, Cases, level_areas
from citybrain.alerts.detector import (
    KINDS,
    Detector,
    DetectorConfigError,
    Finding,
    Run,
    duration,
    load_detectors,
    register,
)
from citybrain.alerts.kinds import CamerasOffline, Count, Ears, Overdue, Rule, Scan, count_rule
from citybrain.alerts.scan import Zones

__all__ = [
    "KINDS",
    "Areas",
    "CamerasOffline",
    "Cases",
    "Count",
    "Detector",
    "DetectorConfigError",
    "Ears",
    "Finding",
    "Overdue",
    "Rule",
    "Run",
    "Scan",
    "Zones",
    "count_rule",
    "duration",
    "ears",
    "kinds",
    "level_areas",
    "load_detectors",
    "register",
]
