"""Bad input is rejected with an error naming the field."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from placement import Instance, InvalidInstance, Node, Site, SolverConfig, Weights, Workload, solve
from tests.placement.instances import BANDWIDTH, LATENCY, SITES, node, small


def wl(name: str = "w", **kw: Any) -> Workload:
    base: dict[str, Any] = {"replicas": 1, "cpu_m": 500, "memory_mb": 512, "cells": {"c1": 1.0}}
    base.update(kw)
    return Workload(name, **base)


OK = [wl("a"), wl("b"), wl("c"), wl("d")]

BAD_WORKLOADS = [
    ("negative cpu", {"cpu_m": -1}, "workloads[3].cpu_m", "must be >= 0"),
    ("negative memory", {"memory_mb": -5}, "workloads[3].memory_mb", "must be >= 0"),
    ("zero replicas", {"replicas": 0}, "workloads[3].replicas", "must be >= 1"),
    ("shares not 1", {"cells": {"c1": 0.5, "c2": 0.2}}, "workloads[3].cells", "traffic shares must sum to 1, got 0.7"),
    ("unknown cell", {"cells": {"c9": 1.0}}, "workloads[3].cells", "unknown cell 'c9'"),
    ("no cells", {"cells": {}}, "workloads[3].cells", "at least one cell"),
    ("nan share", {"cells": {"c1": math.nan}}, "workloads[3].cells['c1']", "finite"),
    ("nan latency bound", {"max_latency_ms": math.nan}, "workloads[3].max_latency_ms", "finite"),
    ("zero latency bound", {"max_latency_ms": 0.0}, "workloads[3].max_latency_ms", "> 0"),
    ("bad tier", {"allowed_tiers": frozenset({"fog"})}, "workloads[3].allowed_tiers", "unknown tiers"),
    ("empty zones", {"allowed_zones": frozenset()}, "workloads[3].allowed_zones", "non-empty"),
    ("zero spread", {"max_per_site": 0}, "workloads[3].max_per_site", ">= 1"),
    ("unknown current node", {"current": ("ghost",)}, "workloads[3].current[0]", "unknown node 'ghost'"),
    ("float replicas", {"replicas": 1.5}, "workloads[3].replicas", "integer"),
    ("cpu past int64", {"cpu_m": 10**21}, "workloads[3].cpu_m", "must be <= 1e+15"),  # "1e18" cores (#25)
    ("memory past the bound", {"memory_mb": 10**15 + 1}, "workloads[3].memory_mb", "must be <= 1e+15"),
]


@pytest.mark.parametrize(("case", "change", "field", "words"), BAD_WORKLOADS, ids=[c[0] for c in BAD_WORKLOADS])
def test_bad_workload_is_rejected_naming_the_field(case: str, change: dict[str, Any], field: str, words: str) -> None:
    bad = replace(OK[3], **change)
    with pytest.raises(InvalidInstance) as err:
        small([*OK[:3], bad])
    assert err.value.field == field
    assert words in str(err.value)
    assert str(err.value).startswith(field + ": ")


def test_nan_latency_is_rejected() -> None:
    latency = {c: dict(row) for c, row in LATENCY.items()}
    latency["c2"]["mec1"] = math.nan
    with pytest.raises(InvalidInstance) as err:
        Instance((node("n", "fe1"),), SITES, (wl(),), latency, BANDWIDTH)
    assert err.value.field == "latency_ms['c2']['mec1']"


def test_latency_row_missing_a_site_is_rejected() -> None:
    latency = {"c1": {"fe1": 1.0, "mec1": 2.0}}
    with pytest.raises(InvalidInstance) as err:
        Instance((node("n", "fe1"),), SITES, (wl(),), latency)
    assert err.value.field == "latency_ms['c1']"
    assert "cloud1" in str(err.value)


BAD_NODES = [
    ("unknown site", Node("n", "nowhere", "edge", "es-bcn", 1000, 1000), "nodes[1].site"),
    ("tier differs", Node("n", "fe1", "cloud", "es-bcn", 1000, 1000), "nodes[1].tier"),
    ("zone differs", Node("n", "fe1", "far-edge", "fr-par", 1000, 1000), "nodes[1].zone"),
    ("negative cpu", Node("n", "fe1", "far-edge", "es-bcn", -1, 1000), "nodes[1].cpu_m"),
    ("nan cost", Node("n", "fe1", "far-edge", "es-bcn", 1, 1, cost_per_cpu_hour=math.nan), "nodes[1].cost_per_cpu_hour"),
    ("duplicate", Node("fe1-a", "fe1", "far-edge", "es-bcn", 1, 1), "nodes[1].name"),
]


@pytest.mark.parametrize(("case", "bad", "field"), BAD_NODES, ids=[c[0] for c in BAD_NODES])
def test_bad_node_is_rejected_naming_the_field(case: str, bad: Node, field: str) -> None:
    with pytest.raises(InvalidInstance) as err:
        small([wl()], nodes=[node("fe1-a", "fe1"), bad])
    assert err.value.field == field


def test_unknown_excluded_site_and_penalty_are_rejected() -> None:
    with pytest.raises(InvalidInstance) as err:
        small([wl()], excluded_sites=frozenset({"atlantis"}))
    assert err.value.field == "excluded_sites"
    with pytest.raises(InvalidInstance) as err:
        small([wl()], site_penalty_ms={"fe1": -2.0})
    assert err.value.field == "site_penalty_ms['fe1']"


def test_bandwidth_needed_but_missing_is_rejected() -> None:
    with pytest.raises(InvalidInstance) as err:
        Instance((node("n", "fe1"),), SITES, (wl(min_bandwidth_mbps=10.0),), LATENCY)
    assert err.value.field == "bandwidth_mbps['c1']"


def test_invalid_instance_is_a_value_error_and_weights_are_checked() -> None:
    assert issubclass(InvalidInstance, ValueError)
    with pytest.raises(InvalidInstance) as err:
        Weights(latency=-1.0)
    assert err.value.field == "weights.latency"


def test_unknown_solver_is_rejected() -> None:
    with pytest.raises(InvalidInstance) as err:
        solve(small([wl()]), config=SolverConfig(solver="magic"))
    assert err.value.field == "config.solver"


def test_instance_is_immutable() -> None:
    inst = small([wl()])
    with pytest.raises(AttributeError):
        inst.nodes = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        inst.latency_ms["c1"]["fe1"] = 0.0  # type: ignore[index]
    assert isinstance(Site("s", "edge", "z"), Site)
