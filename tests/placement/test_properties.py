"""Properties that hold for every solver on any valid instance."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings

from placement import SOLVERS, Instance, SolverConfig, Status, Weights, check_violations, evaluate
from tests.placement.instances import instances

FAST = SolverConfig(time_limit_s=0.5, workers=1)
PROFILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@PROFILE
@given(inst=instances())
def test_no_solver_ever_breaks_a_hard_constraint(solver: str, inst: Instance) -> None:
    result = SOLVERS[solver](inst, Weights(), FAST)
    assert check_violations(inst, result) == []
    names = {w.name for w in inst.workloads}
    assert set(result.assignment) | set(result.unplaced) == names
    assert not set(result.assignment) & set(result.unplaced)
    assert all(reason for reason in result.unplaced.values())
    assert set(result.displaced) <= set(result.unplaced)
    assert (result.status is Status.INFEASIBLE) == bool(result.unplaced) or result.status is Status.TIMEOUT
    ev = evaluate(inst, Weights(), result.assignment)
    assert math.isclose(ev.objective, result.objective, rel_tol=1e-9)
    assert math.isclose(sum(result.breakdown.values()), result.objective, rel_tol=1e-9)
    assert result.bound <= result.objective + 1e-6
    assert 0.0 <= result.gap <= 1.0
    assert result.migrations == ev.migrations
    assert set(result.predicted_latency_ms) == set(result.assignment)


@PROFILE
@given(inst=instances(max_workloads=4, max_nodes=4))
def test_cpsat_is_never_worse_than_a_baseline(inst: Instance) -> None:
    ours = SOLVERS["cpsat"](inst, Weights(), FAST)
    for name in ("ffd", "kube", "greedy-latency", "ecoda"):
        theirs = SOLVERS[name](inst, Weights(), FAST)
        assert ours.objective <= theirs.objective + 1e-6, name


def test_violation_checker_catches_each_kind_of_violation() -> None:
    from dataclasses import replace

    from placement import Workload
    from tests.placement.instances import small

    inst = small([
        Workload("tight", 2, 1500, 512, cells={"c1": 1.0}, max_latency_ms=2.0, max_per_node=1,
                 allowed_zones=frozenset({"es-bcn"}), allowed_tiers=frozenset({"far-edge"})),
    ])
    ok = SOLVERS["kube"](inst, Weights(), FAST)
    bad = replace(ok, assignment={"tight": ("fe1-a", "fe1-a")}, unplaced={})
    found = " | ".join(check_violations(inst, bad))
    assert "max_per_node" in found and "CPU" in found
    bad = replace(ok, assignment={"tight": ("cloud1-a", "mec1-a")}, unplaced={})
    found = " | ".join(check_violations(inst, bad))
    assert "zone es-mad not allowed" in found and "tier edge not allowed" in found and "ms >" in found
    bad = replace(ok, assignment={"tight": ("fe1-a",)}, unplaced={})
    assert "1 replicas placed, 2 wanted" in " | ".join(check_violations(inst, bad))
    bad = replace(ok, assignment={}, unplaced={})
    assert "neither placed nor explained" in " | ".join(check_violations(inst, bad))
