"""EARS C2/C3 (CDC's Early Aberration Reporting System), per area, against the same hours of
earlier weeks.

For a window of ``w`` hours ending at ``now - lag·w`` (lag 0, 1, 2), the observed count ``O`` is
compared with the counts of the same window one, two, … ``baseline_weeks`` weeks earlier (the
same hours of the same weekdays: the week's rhythm is in the baseline, and a week back is the
guard band between the baseline and the days being judged):

    C2 = (O − mean) / max(sd, min_sd)          (alert when ≥ 3)
    C3 = Σ over lags 0, 1, 2 of max(0, C2 − 1)  (alert when ≥ 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citybrain.alerts.data import Cases

WEEK_S = 7 * 86_400.0
LAGS = 3


@dataclass(frozen=True)
class Aberration:
    area: int  # position in Areas
    observed: int
    expected: float
    statistic: float
    incident_ids: np.ndarray


def counts(cases: Cases, n_areas: int, now: float, window_s: float, weeks: int) -> np.ndarray:
    """Incidents per (lag, week back, area): ``[lag, j, a]`` counts the window ending at
    ``now - lag·window - j·week`` (j = 0 is the window being judged)."""
    out = np.zeros((LAGS, weeks + 1, n_areas), dtype=np.int64)
    for lag in range(LAGS):
        for j in range(weeks + 1):
            hi = now - lag * window_s - j * WEEK_S
            inside = (cases.t >= hi - window_s) & (cases.t < hi)
            out[lag, j] = np.bincount(cases.area[inside], minlength=n_areas)
    return out


def c2(table: np.ndarray, min_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """(C2, baseline mean) per (lag, area) from ``counts``."""
    baseline = table[:, 1:, :].astype(float)
    mean = baseline.mean(axis=1)
    sd = baseline.std(axis=1, ddof=1)
    return (table[:, 0, :] - mean) / np.maximum(sd, min_sd), mean


def detect(
    cases: Cases,
    n_areas: int,
    now: float,
    window_s: float,
    weeks: int,
    method: str,
    threshold: float,
    min_sd: float,
    min_cases: int,
) -> list[Aberration]:
    """Areas whose current window is aberrant by C2 or C3, strongest first. ``cases`` must
    cover ``[now - 3·window - weeks·week, now)``."""
    table = counts(cases, n_areas, now, window_s, weeks)
    stat2, mean = c2(table, min_sd)
    stat = stat2[0] if method == "C2" else np.maximum(stat2 - 1, 0).sum(axis=0)
    hit = np.flatnonzero((stat >= threshold) & (table[0, 0] >= min_cases) & (stat2[0] > 0))
    current = (cases.t >= now - window_s) & (cases.t < now)
    found = [
        Aberration(
            int(a),
            int(table[0, 0, a]),
            float(mean[0, a]),
            float(stat[a]),
            np.sort(cases.id[current & (cases.area == a)]),
        )
        for a in hit
    ]
    return sorted(found, key=lambda f: -f.statistic)
