"""Pure regressions of what bench.fuzz found on the real stack (the objects themselves are in
tests/resources/cases.py, checked by pydantic and by the API server)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orchestrator.resources.common import parse_quantity
from orchestrator.resources.edgesite import MAX_COST_PER_CPU_HOUR, MAX_IDLE_WATTS, MAX_WATTS_PER_CPU
from orchestrator.snapshot import Request, build_instance
from placement import Status, solve
from tests.operator.test_engine_capacity import METRICS, SITES, k8s_node
from tests.operator.test_selectors import _spec


def test_a_site_the_latency_probes_do_not_cover_takes_no_replicas_and_blocks_nobody() -> None:
    """Before: its Ready node made the instance invalid for every workload of the batch
    ("latency_ms['c1']: missing site")."""
    sites = {**SITES, "new": {"tier": "edge", "zone": "es-bcn", "costPerCpuHour": 0.0}}
    nodes = [k8s_node("n1", "near", pods="110"), k8s_node("n9", "new", pods="110")]
    inst = build_instance(nodes, sites, [Request("ns/a", _spec())], METRICS, {})
    assert [n.name for n in inst.nodes] == ["n1"] and [s.name for s in inst.sites] == ["near"]
    assert solve(inst).assignment == {"ns/a": ("n1",)}


def test_the_largest_site_numbers_the_model_admits_keep_the_objective_finite() -> None:
    """Before the bounds, a site costing 1e308 per CPU-hour (or idling at 1e308 W) made every solve
    raise OverflowError (the unplaced penalty is an int of the largest replica cost)."""
    sites = {**SITES, "far": {"tier": "cloud", "zone": "es-bcn", "costPerCpuHour": MAX_COST_PER_CPU_HOUR,
                              "power": {"idleWatts": MAX_IDLE_WATTS, "wattsPerCpu": MAX_WATTS_PER_CPU}}}
    nodes = [k8s_node("n1", "near", pods="110"), k8s_node("n2", "far", pods="110")]
    result = solve(build_instance(nodes, sites, [Request("ns/a", _spec())], METRICS, {}))
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE) and result.assignment == {"ns/a": ("n1",)}


def test_a_quantity_beyond_decimals_range_is_a_value_error() -> None:
    """It crashed the model's own check (decimal.Overflow, not a validation error)."""
    for text in ("+.1701475E45308582", "1e99999999999"):
        with pytest.raises(ValueError, match="not a Kubernetes quantity"):
            parse_quantity(text)
    assert parse_quantity("1e999") == Decimal("1e999") and parse_quantity("9" * 64) > 10**63
