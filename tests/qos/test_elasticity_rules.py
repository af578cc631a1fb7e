"""The elasticity decisions, table-driven (orchestrator.elasticity: pure)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from orchestrator.elasticity import Decision, Observed, Size, cpu_down, cpu_up, current, decide, intent
from orchestrator.resources.elasticity import Elasticity, ResizeDirection

SPEC: dict[str, Any] = {"replicas": 1, "resources": {"cpu": "3400m", "memory": "128Mi"}}
BOTH = Elasticity.model_validate({"vertical": {"stepPercent": 20, "minCpu": "3400m", "maxCpu": "5"},
                                  "horizontal": {"minReplicas": 1, "maxReplicas": 3},
                                  "quietSeconds": 30, "stepSeconds": 5})
OUT = Elasticity.model_validate({"horizontal": {"minReplicas": 1, "maxReplicas": 2}, "quietSeconds": 30})


def seen(*, breach: bool = True, use: float | None = 3.2, quiet: float = 0.0, since: float = math.inf,
         hpa: str | None = None) -> Observed:
    return Observed(breach=(0, 1000) if breach else None, quiet_s=quiet, use_cores=use, hpa=hpa, now=2000.0,
                    since_last_s=since)


def test_the_cpu_ladder_comes_back_to_where_it_started() -> None:
    assert cpu_up(3400, 3400, 20, 5000) == 4080
    assert cpu_down(3400, 4080, 20, 1000) == 3400
    assert cpu_up(3400, 4080, 20, 4500) == 4500  # the bound, not beyond
    assert cpu_up(3400, 4500, 20, 4500) is None
    assert cpu_down(3400, 4500, 20, 1000) == 4080  # back onto the ladder
    assert cpu_down(250, 250, 10, 250) is None


@pytest.mark.parametrize(("policy", "size", "obs", "want"), [
    (BOTH, Size(3400, 1), seen(), Decision(Size(4080, 1), ResizeDirection.UP)),  # vertical first
    (BOTH, Size(5000, 1), seen(use=4.5), Decision(Size(5000, 2), ResizeDirection.UP)),  # then out
    (BOTH, Size(5000, 3), seen(use=4.5), None),  # every bound reached: held (said), nothing recorded
    (OUT, Size(250, 1), seen(use=0.3, hpa="web"), None),  # an HPA owns the replicas: held
    (BOTH, Size(3400, 1), seen(use=2.0), Decision()),  # a breach, but CPU use is not high: not resources
    (BOTH, Size(3400, 1), seen(since=2.0), Decision()),  # the last step gets stepSeconds to work
    (BOTH, Size(3400, 1), seen(use=None), Decision()),  # no data, no resize
    (BOTH, Size(4080, 2), seen(breach=False, use=0.1, quiet=40), Decision(Size(4080, 1), ResizeDirection.DOWN)),
    (BOTH, Size(4080, 1), seen(breach=False, use=0.1, quiet=40), Decision(Size(3400, 1), ResizeDirection.DOWN)),
    (BOTH, Size(3400, 1), seen(breach=False, use=0.1, quiet=40), Decision()),  # at the floor
    (BOTH, Size(4080, 1), seen(breach=False, use=0.1, quiet=10), Decision()),  # not quiet long enough
    (BOTH, Size(4080, 1), seen(breach=False, use=3.9, quiet=40), Decision()),  # quiet, but use is not low
    (OUT, Size(250, 2), seen(hpa="web"), Decision(Size(250, 1), ResizeDirection.DOWN)),  # an HPA came: spec.replicas
])
def test_decisions(policy: Elasticity, size: Size, obs: Observed, want: Decision | None) -> None:
    got = decide(policy, SPEC, size, obs)
    if want is None:
        assert got.size is None and got.held, got
    else:
        assert (got.size, got.direction) == (want.size, want.direction), got


def test_never_in_under_an_hpa() -> None:
    spec = {**SPEC, "replicas": 2}  # the HPA's count
    assert decide(OUT, spec, Size(250, 2), seen(breach=False, use=0.0, quiet=40, hpa="web")) == Decision()
    assert decide(OUT, spec, Size(250, 2), seen(breach=False, use=0.0, quiet=40)).size == Size(250, 1)


def test_an_intent_holds_only_what_differs_from_the_spec_and_stops_when_the_spec_changes() -> None:
    obs = seen()
    up = intent(decide(BOTH, SPEC, Size(3400, 1), obs), SPEC, 1, obs)
    assert (up.cpu_millis, up.replicas, up.objective, up.window_start) == (4080, None, 0, 1000)
    assert current(SPEC, up) == Size(4080, 1)
    assert current({**SPEC, "resources": {"cpu": "2"}}, up) == Size(2000, 1)  # decided on another spec
