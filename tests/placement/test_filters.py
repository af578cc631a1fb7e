"""Filter plugins, table-driven: one row per (plugin, workload, candidate, expected status)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from placement import Code, FilterPlugin, Instance, Weights, Workload
from placement.catalog import Catalog
from placement.filters import (
    AvoidedNodes,
    BandwidthBound,
    ExcludedSites,
    LatencyBound,
    NodeSelector,
    ResourceFit,
    TaintToleration,
    TierAllowed,
    ZoneAllowed,
)
from placement.prefilter import feasible_all, feasible_nodes
from tests.placement.instances import instances, node, small

NODES = [
    node("fe1-a", "fe1", 2000, 4096, used_cpu_m=500),
    node("mec1-a", "mec1", 8000, 16384, gpu=1, taints=frozenset({"gpu"})),
    node("cloud1-a", "cloud1", 64000, 262144),
]


def wl(**kw: Any) -> Workload:
    base: dict[str, Any] = {"replicas": 1, "cpu_m": 500, "memory_mb": 512, "cells": {"c1": 1.0}}
    base.update(kw)
    return Workload("w", **base)


SITE_INDEX = {"fe1": 0, "mec1": 1, "cloud1": 2}
NODE_INDEX = {"fe1-a": 0, "mec1-a": 1, "cloud1-a": 2}

CASES: list[tuple[str, FilterPlugin, dict[str, Any], str, Code, dict[str, Any]]] = [
    ("latency ok", LatencyBound(), {"max_latency_ms": 5.0}, "mec1", Code.SUCCESS, {}),
    ("latency too far", LatencyBound(), {"max_latency_ms": 4.0}, "mec1", Code.UNSCHEDULABLE, {}),
    ("latency worst cell counts", LatencyBound(), {"max_latency_ms": 5.0, "cells": {"c1": 0.9, "c2": 0.1}},
     "fe1", Code.UNSCHEDULABLE, {}),
    ("latency zero share ignored", LatencyBound(), {"max_latency_ms": 5.0, "cells": {"c1": 1.0, "c2": 0.0}},
     "fe1", Code.SUCCESS, {}),
    ("latency penalty counts", LatencyBound(), {"max_latency_ms": 5.0}, "mec1", Code.UNSCHEDULABLE,
     {"site_penalty_ms": {"mec1": 0.5}}),
    ("no latency bound", LatencyBound(), {}, "cloud1", Code.SUCCESS, {}),
    ("zone ok", ZoneAllowed(), {"allowed_zones": frozenset({"es-bcn"})}, "fe1", Code.SUCCESS, {}),
    ("zone sovereignty", ZoneAllowed(), {"allowed_zones": frozenset({"es-bcn"})}, "cloud1", Code.UNSCHEDULABLE, {}),
    ("tier ok", TierAllowed(), {"allowed_tiers": frozenset({"edge"})}, "mec1", Code.SUCCESS, {}),
    ("tier refused", TierAllowed(), {"allowed_tiers": frozenset({"edge"})}, "fe1", Code.UNSCHEDULABLE, {}),
    ("bandwidth ok", BandwidthBound(), {"min_bandwidth_mbps": 1000.0}, "fe1", Code.SUCCESS, {}),
    ("bandwidth short", BandwidthBound(), {"min_bandwidth_mbps": 1000.0}, "cloud1", Code.UNSCHEDULABLE, {}),
    ("excluded site", ExcludedSites(), {}, "mec1", Code.UNSCHEDULABLE, {"excluded_sites": frozenset({"mec1"})}),
    ("not excluded", ExcludedSites(), {}, "fe1", Code.SUCCESS, {"excluded_sites": frozenset({"mec1"})}),
    ("taint not tolerated", TaintToleration(), {}, "mec1-a", Code.UNSCHEDULABLE, {}),
    ("taint tolerated", TaintToleration(), {"tolerations": frozenset({"gpu"})}, "mec1-a", Code.SUCCESS, {}),
    ("avoided node", AvoidedNodes(), {"avoid_nodes": frozenset({"mec1-a"})}, "mec1-a", Code.UNSCHEDULABLE, {}),
    ("another node avoided", AvoidedNodes(), {"avoid_nodes": frozenset({"mec1-a"})}, "fe1-a", Code.SUCCESS, {}),
    ("admitted by the template", NodeSelector(), {"allowed_nodes": frozenset({"fe1-a"})}, "fe1-a", Code.SUCCESS, {}),
    ("not admitted by the template", NodeSelector(), {"allowed_nodes": frozenset({"fe1-a"})}, "cloud1-a",
     Code.UNSCHEDULABLE, {}),
    ("fits after background load", ResourceFit(), {"cpu_m": 1500}, "fe1-a", Code.SUCCESS, {}),
    ("background load leaves too little", ResourceFit(), {"cpu_m": 1600}, "fe1-a", Code.UNSCHEDULABLE, {}),
    ("memory too big", ResourceFit(), {"memory_mb": 5000}, "fe1-a", Code.UNSCHEDULABLE, {}),
    ("gpu present", ResourceFit(), {"gpu": 1}, "mec1-a", Code.SUCCESS, {}),
    ("gpu missing", ResourceFit(), {"gpu": 1}, "cloud1-a", Code.UNSCHEDULABLE, {}),
]


@pytest.mark.parametrize(("case", "plugin", "change", "target", "expected", "extra"), CASES, ids=[c[0] for c in CASES])
def test_plugin_table(case: str, plugin: FilterPlugin, change: dict[str, Any], target: str, expected: Code,
                      extra: dict[str, Any]) -> None:
    inst = small([wl(**change)], nodes=NODES, **extra)
    cat = Catalog(inst, Weights())
    index = SITE_INDEX[target] if plugin.level == "site" else NODE_INDEX[target]
    status = plugin.filter(cat, 0, np.array([index], dtype=np.int64))
    assert status.code is expected
    assert status.plugin == plugin.name


def test_pipeline_keeps_only_nodes_passing_every_plugin() -> None:
    inst = small([wl(max_latency_ms=6.0, allowed_zones=frozenset({"es-bcn"}))], nodes=NODES)
    feas = feasible_nodes(Catalog(inst, Weights()), 0)
    assert feas.reason == ""
    assert sorted(feas.nodes.tolist()) == [0]  # mec1-a is tainted, cloud1 too far and in es-mad


REASONS = [
    ("latency", {"max_latency_ms": 0.5}, "LatencyBound: no node is within 0.5 ms of cell c1",
     "closest: site fe1 at 1 ms from cell c1"),
    ("zone then capacity", {"allowed_zones": frozenset({"es-bcn"}), "max_latency_ms": 10.0, "cpu_m": 3000},
     "ResourceFit: no node in zone es-bcn within 10 ms of cell c1 has 3 CPUs free", "most free: node fe1-a"),
    ("larger than every node", {"cpu_m": 10**9}, "ResourceFit: no node has 1e+06 CPUs free",
     "larger than every node: the most CPU any node has is 64 CPUs, so it fits nowhere"),
    ("sovereignty", {"allowed_zones": frozenset({"fr-par"})}, "ZoneAllowed: no node is in zone fr-par", ""),
    ("tier", {"allowed_tiers": frozenset({"edge"})}, "TaintToleration: no node in tier edge has only tolerated", ""),
    ("avoided", {"avoid_nodes": frozenset({"fe1-a"}), "allowed_zones": frozenset({"es-bcn"})},
     "AvoidedNodes: no node in zone es-bcn is other than fe1-a (its Pods could not run there)", "lately"),
    ("template", {"allowed_nodes": frozenset(), "max_latency_ms": 10.0},
     "NodeSelector: no node within 10 ms of cell c1 is admitted by its Pod template's nodeSelector", "0 node(s)"),
]


@pytest.mark.parametrize(("case", "change", "starts", "contains"), REASONS, ids=[r[0] for r in REASONS])
def test_reason_names_the_blocking_constraint(case: str, change: dict[str, Any], starts: str, contains: str) -> None:
    inst = small([wl(**change)], nodes=NODES)
    feas = feasible_nodes(Catalog(inst, Weights()), 0)
    assert len(feas.nodes) == 0
    assert feas.reason.startswith(starts), feas.reason
    assert contains in feas.reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(max_workloads=6, max_nodes=6))
def test_vectorised_filters_match_the_plugins_one_workload_at_a_time(inst: Instance) -> None:
    cat = Catalog(inst, Weights())
    together = feasible_all(cat)
    for wi in range(len(inst.workloads)):
        alone = feasible_nodes(cat, wi)
        assert together[wi].nodes.tolist() == alone.nodes.tolist()
        assert together[wi].reason == alone.reason


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(max_workloads=6, max_nodes=6))
def test_any_plugin_list_runs_the_same_rules_together_and_alone(inst: Instance) -> None:
    plugins = (ZoneAllowed(), LatencyBound(), TaintToleration(), NodeSelector())  # not the default list
    cat = Catalog(inst, Weights())
    together = feasible_all(cat, plugins=plugins)
    for wi in range(len(inst.workloads)):
        alone = feasible_nodes(cat, wi, plugins)
        assert together[wi].nodes.tolist() == alone.nodes.tolist()
        assert together[wi].reason == alone.reason
