"""Replica repair on the real stack: a replica whose Pod was deleted comes back, replicas on a site
whose Nodes went NotReady move to another site, and a Pod the kubelet refused (Failed, OutOfcpu)
is re-placed on another node, which the workload then avoids.  Each says why in a ReplicaLost Event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.faults import Faults
from orchestrator.health import AVOID_NODES_ANNOTATION
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import apply_all, get_json, live_pods, own_namespace, wait_for, workload

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
CITY = load_scenario(DEFAULT_SCENARIO)
LATENCY = CITY.latency_ms()


def _running(stack: StackHandle, ns: str, count: int) -> list[dict[str, Any]] | None:
    pods = live_pods(stack, ns)
    ok = len(pods) == count and all(p["status"].get("phase") == "Running" for p in pods)
    return pods if ok else None


def _placed(stack: StackHandle, ns: str, name: str) -> dict[str, Any] | None:
    st = get_json(stack, "edgeworkload", name, "-n", ns).get("status") or {}
    return st if st.get("phase") == "Placed" else None


def _lost_events(stack: StackHandle, ns: str) -> list[str]:
    return [e["message"] for e in get_json(stack, "events", "-n", ns)["items"] if e["reason"] == "ReplicaLost"]


def _site_of(stack: StackHandle, node: str) -> str:
    return str(get_json(stack, "node", node)["metadata"]["labels"]["edgeorch.io/site"])


def test_a_deleted_replica_pod_comes_back(operator: StackHandle) -> None:
    with own_namespace(operator, "repair-deleted") as ns:
        cell = sorted(LATENCY)[1]
        apply_all(operator, [workload("cam", ns, replicas=2, cells={cell: 1.0}, max_latency_ms=200)])
        wait_for(lambda: _placed(operator, ns, "cam"), 60, "cam placed")
        before = wait_for(lambda: _running(operator, ns, 2), 60, "2 replicas Running")
        victim = before[0]["metadata"]
        operator.kubectl("delete", "pod", victim["name"], "-n", ns, "--wait=true", "--timeout=30s")

        def back() -> list[dict[str, Any]] | None:
            pods = _running(operator, ns, 2)
            return pods if pods and victim["uid"] not in {p["metadata"]["uid"] for p in pods} else None

        after = wait_for(back, 60, "the deleted replica back and Running")
        assert any("missing" in m for m in _lost_events(operator, ns)), _lost_events(operator, ns)
        status = _placed(operator, ns, "cam")
        assert status is not None
        assert sorted(p["node"] for p in status["placements"]) == sorted(p["spec"]["nodeName"] for p in after)


def test_replicas_leave_a_site_whose_nodes_go_not_ready(operator: StackHandle) -> None:
    faults = Faults(operator.exporter_url, operator.kubeconfig, operator.state.scenario)
    with own_namespace(operator, "repair-offline") as ns:
        cell = sorted(LATENCY)[0]
        apply_all(operator, [workload("bus", ns, replicas=2, cells={cell: 1.0}, max_latency_ms=200)])
        wait_for(lambda: _placed(operator, ns, "bus"), 60, "bus placed")
        pods = wait_for(lambda: _running(operator, ns, 2), 60, "2 replicas Running")
        site = _site_of(operator, pods[0]["spec"]["nodeName"])
        fault = faults.offline(site)
        try:
            def moved() -> list[dict[str, Any]] | None:
                now = _running(operator, ns, 2)
                if not now or any(_site_of(operator, p["spec"]["nodeName"]) == site for p in now):
                    return None
                return now

            after = wait_for(moved, 90, f"both replicas Running off {site}")
            status = _placed(operator, ns, "bus")
            assert status is not None and site not in {p["site"] for p in status["placements"]}
            assert sorted(p["node"] for p in status["placements"]) == sorted(p["spec"]["nodeName"] for p in after)
            assert any("NotReady" in m for m in _lost_events(operator, ns)), _lost_events(operator, ns)
        finally:
            faults.heal(fault)


def test_a_pod_the_kubelet_refused_is_placed_elsewhere_and_its_node_avoided(operator: StackHandle) -> None:
    with own_namespace(operator, "repair-failed") as ns:
        cell = sorted(LATENCY)[2]
        apply_all(operator, [workload("ar", ns, replicas=1, cells={cell: 1.0}, max_latency_ms=200)])
        wait_for(lambda: _placed(operator, ns, "ar"), 60, "ar placed")
        (pod,) = wait_for(lambda: _running(operator, ns, 1), 60, "its replica Running")
        node = pod["spec"]["nodeName"]
        # what the kubelet writes when its admission refuses a Pod (kwok, our kubelet, never refuses)
        operator.kubectl("patch", "pod", pod["metadata"]["name"], "-n", ns, "--subresource=status", "--type=merge",
                         "-p", json.dumps({"status": {"phase": "Failed", "reason": "OutOfcpu",
                                                      "message": "Pod was rejected: Node didn't have enough resource: cpu"}}))
        (moved,) = wait_for(lambda: (lambda p: p if p and p[0]["spec"]["nodeName"] != node else None)(
            _running(operator, ns, 1)), 60, f"the replica Running on a node other than {node}")
        status = _placed(operator, ns, "ar")
        assert status is not None and [p["node"] for p in status["placements"]] == [moved["spec"]["nodeName"]]
        annotations = get_json(operator, "edgeworkload", "ar", "-n", ns)["metadata"]["annotations"]
        assert node in json.loads(annotations[AVOID_NODES_ANNOTATION])
        assert any("OutOfcpu" in m for m in _lost_events(operator, ns)), _lost_events(operator, ns)
