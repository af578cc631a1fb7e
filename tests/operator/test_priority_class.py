"""An EdgeWorkload's priority reaches its Pods (#19 item 6): the kube-scheduler and the kubelet
honour it too, through a PriorityClass per level that never preempts (edgeorch's solver decides who
yields room)."""

from __future__ import annotations

import pytest

from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, get_json, live_pods, own_namespace, wait_for, workload

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]


def test_replica_pods_carry_the_workload_priority(operator: StackHandle) -> None:
    with own_namespace(operator, "priority") as ns:
        high = workload("urgent", ns, replicas=2, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)
        high["spec"]["priority"] = 700
        own = workload("own-class", ns, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)
        own["spec"]["priority"] = 300
        own["spec"]["template"]["spec"]["priorityClassName"] = "system-cluster-critical"  # the template's wins
        apply_all(operator, [high, own])
        pods = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(live_pods(operator, ns)), 60, "3 replica Pods")
        by_app = {}
        for p in pods:
            by_app.setdefault(p["metadata"]["labels"]["app"], []).append(p["spec"])
        assert [(s["priorityClassName"], s["priority"]) for s in by_app["urgent"]] == [("edgeorch-priority-700", 700)] * 2
        assert by_app["own-class"][0]["priorityClassName"] == "system-cluster-critical"
        pc = get_json(operator, "priorityclass", "edgeorch-priority-700")
        assert pc["value"] == 700 and pc["preemptionPolicy"] == "Never" and not pc.get("globalDefault")
