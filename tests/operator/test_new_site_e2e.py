"""A new EdgeSite its latency probes do not cover yet stops nobody (found by bench.fuzz: such a site
made the placement instance invalid for every workload), and its status follows its Nodes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.fuzz import fuzz_node
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import get_json, own_namespace, wait_for, workload

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]

CELL = sorted(load_scenario(DEFAULT_SCENARIO).latency_ms())[0]


def _status(stack: StackHandle, site: str) -> dict[str, Any]:
    return (get_json(stack, "edgesite", site).get("status") or {})


def test_a_site_its_probes_do_not_cover_stops_nobody(operator: StackHandle) -> None:
    site = {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeSite", "metadata": {"name": "unprobed"},
            "spec": {"tier": "edge", "zone": "es-bcn", "district": "nowhere", "location": {"lat": 41.4, "lon": 2.1},
                     "costPerCpuHour": 0.01, "power": {"idleWatts": 10, "wattsPerCpu": 1}, "bandwidthMbps": 100}}
    node = fuzz_node("unprobed", "edge")
    try:
        operator.kubectl("create", "-f", "-", input=json.dumps(site))
        down = wait_for(lambda: (_status(operator, "unprobed") or {}).get("health") == "Down"
                        and _status(operator, "unprobed"), 20, "the new site Down (no nodes)")
        assert down["nodes"] == 0, down
        operator.kubectl("create", "-f", "-", input=json.dumps(node))
        up = wait_for(lambda: (_status(operator, "unprobed") or {}).get("health") == "Up"
                      and _status(operator, "unprobed"), 30, "the site Up with its Node")
        assert up["nodes"] == 1 and up["readyNodes"] == 1, up
        with own_namespace(operator, "unprobed-site") as ns:
            operator.kubectl("create", "-f", "-", input=json.dumps(
                workload("after-new-site", ns, cells={CELL: 1.0}, max_latency_ms=500)))
            st = wait_for(lambda: (get_json(operator, "ew", "after-new-site", "-n", ns).get("status") or {})
                          .get("phase"), 30, "the workload answered")
            assert st == "Placed"
            pods = get_json(operator, "pods", "-n", ns)["items"]
            assert [p["metadata"]["labels"]["edgeorch.io/site"] for p in pods] != ["unprobed"]
        operator.kubectl("delete", "node", node["metadata"]["name"])
        gone = wait_for(lambda: (_status(operator, "unprobed") or {}).get("nodes") == 0
                        and _status(operator, "unprobed"), 30, "the site Down again")
        assert gone["health"] == "Down", gone
    finally:
        operator.kubectl("delete", "node", node["metadata"]["name"], "--ignore-not-found", check=False)
        operator.kubectl("delete", "edgesite", "unprobed", "--ignore-not-found", check=False)
