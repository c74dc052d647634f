"""Same seed, same county; another seed, another county (the generator, without a database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from citybrain.synth.hierarchy import build_hierarchy
from citybrain.synth.incidents import make_incidents
from citybrain.synth.resources import Lookup, make_cameras, make_teams
from tests.utils.county import SEED_END


def _county(seed: int):
    rng = np.random.default_rng(seed)
    h = build_hierarchy(rng)
    lk = Lookup(h)
    teams = make_teams(h, lk, rng, SEED_END)
    cameras = make_cameras(h, lk, rng)
    incidents = make_incidents(h, lk, teams, 5000, rng, SEED_END)
    return h, teams, cameras, incidents


def test_same_seed_same_county() -> None:
    a, b = _county(11), _county(11)
    for name, level in a[0].levels().items():
        other = b[0].levels()[name]
        pd.testing.assert_frame_equal(level.frame, other.frame)
        assert (shapely.to_wkb(level.geoms) == shapely.to_wkb(other.geoms)).all(), name
    for x, y in zip(a[1:], b[1:], strict=True):
        pd.testing.assert_frame_equal(x, y)


def test_other_seed_other_county() -> None:
    a, b = _county(11), _county(12)
    assert not np.array_equal(
        shapely.to_wkb(a[0].micro_grids.geoms[:100]), shapely.to_wkb(b[0].micro_grids.geoms[:100])
    )
    assert not a[3]["x"].equals(b[3]["x"])
