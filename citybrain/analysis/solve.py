"""Integer programs solved with CBC through PuLP, one way for every analysis (camera siting,
service sites): quiet, bounded in time, and saying whether the answer is proven optimal."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pulp


@contextmanager
def quiet_pulp() -> Iterator[None]:
    """PuLP 3 warns of what PuLP 4 changes: the CBC binary it bundles (pinned <4 for it) and
    the way spopt creates variables. Nothing a planner can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulp(\.|$)")
        warnings.filterwarnings("ignore", message=r"(?s).*PuLP 4", category=DeprecationWarning)
        yield


def cbc(problem: pulp.LpProblem, name: str, time_limit: float | None = None) -> bool:
    """Solve ``problem`` with CBC; whether the answer is proven optimal (False: the best found
    within ``time_limit`` seconds). ValueError when no answer exists (infeasible)."""
    with quiet_pulp():
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
    problem.solve(solver)
    if problem.status == pulp.LpStatusInfeasible:
        raise ValueError(f"{name}: no choice of the candidates meets the constraints")
    if problem.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        raise RuntimeError(f"{name}: CBC found no solution ({pulp.LpStatus[problem.status]})")
    return problem.sol_status == pulp.LpSolutionOptimal
