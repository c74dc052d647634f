"""The brain (预测预警): detectors that say "this is new and unusual, look here now".

``config`` reads the detector files (``alerts/*.yaml``); ``data`` reads areas and incidents as
arrays; ``scan`` (prospective space-time permutation scan), ``ears`` (EARS C2/C3) and the rules
in ``detect`` are pure functions of those arrays; ``detect`` runs one detector and says what it
found. Storing findings as alerts and running detectors on schedule is
``citybrain.services.alerts`` / ``alert_runner``.
"""
