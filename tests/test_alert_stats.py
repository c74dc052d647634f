"""The detectors' statistics on small hand-built data, each against an independent computation:
the scan's log likelihood ratio and its best cylinder by brute force over every circle and
window, its Monte-Carlo null against literal permutations of the report times, the circles
against a distance matrix, EARS C2/C3 against the statistics module, the count rule by
counting."""

from __future__ import annotations

import statistics
from itertools import product

import numpy as np
import pytest
from scipy import stats

from citybrain.alerts import Areas, Cases, Zones, count_rule, ears
from citybrain.alerts.scan import _null_maxima, log_glr, scan

DAY = 86_400.0
NOW = 1_000 * DAY


def _areas(n: int, rng: np.random.Generator, spread: float = 3000.0) -> Areas:
    xy = rng.uniform(0, spread, (n, 2))
    return Areas("compounds", np.arange(1, n + 1), [f"A{i}" for i in range(n)], xy[:, 0], xy[:, 1])


def _history(rng, n_areas: int, n_cases: int, days: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    weights = rng.uniform(0.2, 3, n_areas)
    area = rng.choice(n_areas, n_cases, p=weights / weights.sum())
    t = NOW - rng.uniform(0, days * DAY, n_cases)
    return area, t


def _brute_force(areas: Areas, area, t, windows, radius, k_max, min_cases):
    """Every circle (centre × nearest k within the radius) × every window, with the formula
    written out from Poisson log-likelihoods (scipy) rather than the closed form."""
    n = len(areas)
    total = len(area)
    best = (0.0, None, None)
    for centre, w in product(range(n), windows):
        d = np.hypot(areas.x - areas.x[centre], areas.y - areas.y[centre])
        order = np.argsort(d, kind="stable")
        for k in range(1, min(k_max, n) + 1):
            members = order[:k]
            if d[members[-1]] > radius:
                break
            in_zone = np.isin(area, members)
            in_window = t >= NOW - w
            c = int(np.sum(in_zone & in_window))
            mu = in_zone.sum() * in_window.sum() / total
            if c < min_cases or c <= mu:
                continue
            llr = (stats.poisson.logpmf(c, c) - stats.poisson.logpmf(c, mu)) + (
                stats.poisson.logpmf(total - c, total - c)
                - stats.poisson.logpmf(total - c, total - mu)
            )
            if llr > best[0] + 1e-9:
                best = (llr, set(members.tolist()), w)
    return best


def test_log_glr_is_the_poisson_likelihood_ratio() -> None:
    c, mu, total = np.array([5, 12, 3, 40]), np.array([1.2, 4.0, 3.5, 39.0]), 500.0
    expected = [
        (stats.poisson.logpmf(ci, ci) - stats.poisson.logpmf(ci, mi))
        + (
            stats.poisson.logpmf(total - ci, total - ci)
            - stats.poisson.logpmf(total - ci, total - mi)
        )
        if ci > mi
        else 0.0
        for ci, mi in zip(c, mu, strict=True)
    ]
    assert log_glr(c, mu, total) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_circles_are_the_nearest_areas_within_the_radius() -> None:
    rng = np.random.default_rng(3)
    areas = _areas(40, rng)
    zones = Zones.circles(areas, max_radius_m=900, max_areas=6)
    d = np.hypot(areas.x[:, None] - areas.x[None], areas.y[:, None] - areas.y[None])
    for centre in range(40):
        nearest = np.argsort(d[centre], kind="stable")[:6]
        expected = [int(a) for a in nearest if d[centre, a] <= 900]
        got = [int(a) for a in zones.members[centre] if a < 40]
        assert got == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scan_finds_the_brute_force_best_cylinder(seed: int) -> None:
    rng = np.random.default_rng(seed)
    areas = _areas(25, rng)
    area, t = _history(rng, 25, 600)
    # A planted cluster: 14 cases in the last day in area 4 and its nearest neighbour.
    d = np.hypot(areas.x - areas.x[4], areas.y - areas.y[4])
    pair = np.argsort(d)[:2]
    area = np.concatenate([area, rng.choice(pair, 14)])
    t = np.concatenate([t, NOW - rng.uniform(0, DAY, 14)])
    ids = np.arange(1, len(area) + 1)
    windows = [1 * DAY, 3 * DAY, 7 * DAY]
    zones = Zones.circles(areas, 1200, 5)
    totals = np.bincount(area, minlength=25)
    found = scan(
        areas, zones, totals, Cases(area, t, ids), NOW, windows, 199, np.random.default_rng(0), 3
    )
    llr, members, window = _brute_force(areas, area, t, windows, 1200, 5, 3)
    assert found, "the planted cluster must be the best cylinder"
    best = found[0]
    assert best.llr == pytest.approx(llr, rel=1e-9)
    assert set(best.areas.tolist()) == members
    assert best.window_s == window
    # Its incidents are exactly those in its areas and window.
    inside = np.isin(area, list(members)) & (t >= NOW - window)
    assert best.incident_ids.tolist() == sorted(ids[inside].tolist())
    assert best.observed == int(inside.sum())
    assert best.p_value == pytest.approx(1 / 200)  # no replicate comes close to 14 in a day
    # Secondary clusters share no area with a stronger one.
    seen: set[int] = set()
    for c in found:
        assert not seen.intersection(c.areas.tolist())
        seen |= set(c.areas.tolist())


def test_null_distribution_matches_literal_permutations() -> None:
    """The sampler (a uniform subset of the incidents fills the newest window) against the
    definition: shuffle the report times among the incidents and scan again."""
    rng = np.random.default_rng(11)
    areas = _areas(15, rng)
    area, t = _history(rng, 15, 300, days=30)
    windows = np.array([1 * DAY, 3 * DAY])
    zones = Zones.circles(areas, 1500, 4)
    totals = np.bincount(area, minlength=15)
    in_window = np.array([(t >= NOW - w).sum() for w in windows])
    sampled = _null_maxima(zones, in_window, totals, 600, np.random.default_rng(5), 2)
    literal = []
    perm_rng = np.random.default_rng(6)
    for _ in range(600):
        shuffled = perm_rng.permutation(t)
        literal.append(_brute_force(areas, area, shuffled, windows, 1500, 4, 2)[0])
    # Same distribution: a two-sample Kolmogorov-Smirnov test far from rejecting, and close
    # quantiles.
    assert stats.ks_2samp(sampled, literal).pvalue > 0.01
    for q in (0.5, 0.9, 0.99):
        assert np.quantile(sampled, q) == pytest.approx(np.quantile(literal, q), rel=0.15)


def test_early_stop_changes_no_reported_answer() -> None:
    """Stopping the replicates once nothing can be significant gives the clusters the full run
    gives (a strong cluster) and nothing where the full run finds nothing significant."""
    rng = np.random.default_rng(21)
    areas = _areas(30, rng)
    area, t = _history(rng, 30, 800)
    ids = np.arange(1, len(area) + 1)
    zones = Zones.circles(areas, 1000, 5)
    totals = np.bincount(area, minlength=30)
    args = (areas, zones, totals, Cases(area, t, ids), NOW, [DAY, 3 * DAY], 999)
    full = scan(*args, np.random.default_rng(1), 3)
    stopped = scan(*args, np.random.default_rng(1), 3, p_report=0.01)
    assert [c for c in full if c.p_value <= 0.01] == stopped == []  # a quiet history
    strong_area = np.concatenate([area, np.full(8, 7)])
    strong_t = np.concatenate([t, NOW - rng.uniform(0, DAY, 8)])
    ids = np.arange(1, len(strong_area) + 1)
    totals = np.bincount(strong_area, minlength=30)
    args = (areas, zones, totals, Cases(strong_area, strong_t, ids), NOW, [DAY, 3 * DAY], 999)
    full = scan(*args, np.random.default_rng(1), 3)
    stopped = scan(*args, np.random.default_rng(1), 3, p_report=0.01)
    assert stopped and 7 in stopped[0].areas
    assert [(c.llr, c.p_value) for c in full if c.p_value <= 0.01] == [
        (c.llr, c.p_value) for c in stopped
    ]


def test_ears_c2_and_c3_by_hand() -> None:
    """One area, 24-hour windows: the same hours of 8 earlier weeks hold 1, 2, 1, 3, 2, 1, 2, 0
    cases (for each of the three days judged), and the days judged hold 9, 4 and 2."""
    week = 7 * DAY
    baseline = [1, 2, 1, 3, 2, 1, 2, 0]
    current = [9, 4, 2]  # lag 0 (the last 24 h), lag 1, lag 2
    times = []
    for lag in range(3):
        hi = NOW - lag * DAY
        times += [hi - DAY / 2] * current[lag]
        for j, n in enumerate(baseline, start=1):
            times += [hi - j * week - DAY / 2] * n
    t = np.array(times)
    cases = Cases(np.zeros(len(t), dtype=int), t, np.arange(1, len(t) + 1))
    mean, sd = statistics.mean(baseline), statistics.stdev(baseline)
    c2 = [(current[lag] - mean) / max(sd, 1.0) for lag in range(3)]
    (found,) = ears.detect(cases, 1, NOW, DAY, 8, "C2", 3.0, 1.0, 3)
    assert found.statistic == pytest.approx(c2[0])
    assert found.expected == pytest.approx(mean)
    assert found.observed == 9
    (found,) = ears.detect(cases, 1, NOW, DAY, 8, "C3", 2.0, 1.0, 3)
    assert found.statistic == pytest.approx(sum(max(0.0, v - 1) for v in c2))
    assert len(found.incident_ids) == 9
    # Below the threshold: nothing.
    assert ears.detect(cases, 1, NOW, DAY, 8, "C2", c2[0] + 0.01, 1.0, 3) == []


def test_count_rule_by_counting() -> None:
    rng = np.random.default_rng(8)
    area = rng.integers(0, 12, 400)
    t = NOW - rng.uniform(0, 3 * DAY, 400)
    ids = np.arange(1, 401)
    hits = count_rule(Cases(area, t, ids), 12, NOW, DAY, 14)
    expected = {
        a: sorted(ids[(area == a) & (t >= NOW - DAY)].tolist())
        for a in range(12)
        if ((area == a) & (t >= NOW - DAY)).sum() >= 14
    }
    assert {a: ids_.tolist() for a, ids_ in hits} == expected
    assert expected  # the data is such that some areas reach the threshold
    counts = [len(ids_) for _, ids_ in hits]
    assert counts == sorted(counts, reverse=True)
