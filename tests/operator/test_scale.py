"""The scale subresource (#19 item 4), driven as a user would: `kubectl scale` up, down and to zero,
and an autoscaling/v2 HorizontalPodAutoscaler that reads the EdgeWorkload's scale."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import apply_all, get_json, live_pods, own_namespace, wait_for, workload

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
CITY = load_scenario(DEFAULT_SCENARIO)
LATENCY = CITY.latency_ms()
COST = {s.name: s.cost_per_cpu_hour for s in CITY.sites}


def _status(stack: StackHandle, ns: str, name: str) -> dict[str, Any]:
    return get_json(stack, "edgeworkload", name, "-n", ns).get("status") or {}


def _settled(stack: StackHandle, ns: str, name: str, replicas: int) -> dict[str, Any] | None:
    """The status once it says `replicas` replicas run and exactly that many Pods are live."""
    st = _status(stack, ns, name)
    ew = get_json(stack, "edgeworkload", name, "-n", ns)
    if st.get("observedGeneration") != ew["metadata"]["generation"] or st.get("replicas") != replicas:
        return None
    return st if len(live_pods(stack, ns)) == replicas else None


def _reasons(stack: StackHandle, ns: str, name: str) -> list[str]:
    items = get_json(stack, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in items]


def test_kubectl_scale_up_down_and_to_zero(operator: StackHandle) -> None:
    name, cell = "scaled-cam", "cell-gracia-1"
    with own_namespace(operator, "scale") as ns:
        ew = workload(name, ns, replicas=3, cells={cell: 1.0}, max_latency_ms=50)
        ew["spec"]["placement"]["maxPerSite"] = 1  # three sites: a scale-down must choose
        apply_all(operator, [ew])
        st = wait_for(lambda: _settled(operator, ns, name, 3), 60, "3 replicas placed")
        assert st["selector"] == f"edgeorch.io/workload={name}"
        sites = {p["site"] for p in st["placements"]}
        assert len(sites) == 3
        scale = json.loads(operator.kubectl("get", "--raw",
                                            f"/apis/edgeorch.io/v1alpha1/namespaces/{ns}/edgeworkloads/{name}/scale").stdout)
        assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3 and scale["status"]["replicas"] == 3
        assert scale["status"]["selector"] == f"edgeorch.io/workload={name}"

        operator.kubectl("scale", "edgeworkload", name, "-n", ns, "--replicas=1")
        st = wait_for(lambda: _settled(operator, ns, name, 1), 60, "scaled down to 1")
        # the replica kept is the one whose removal leaves the best placement: nearest and cheapest
        kept = st["placements"][0]["site"]
        assert kept == min(sites, key=lambda s: LATENCY[cell][s] + 10 * 0.25 * COST[s]), (kept, sites)
        assert st.get("migrations", 0) == 0, "a scale-down is not a migration"
        reasons = wait_for(lambda: (lambda r: r if "Scaled" in r else None)(_reasons(operator, ns, name)), 30,
                           "a Scaled Event")
        assert "Moved" not in reasons, reasons

        operator.kubectl("scale", "edgeworkload", name, "-n", ns, "--replicas=0")
        st = wait_for(lambda: _settled(operator, ns, name, 0), 60, "scaled to zero")
        assert st["phase"] == "Placed" and st["placements"] == [] and "sites" not in st
        placed = next(c for c in st["conditions"] if c["type"] == "Placed")
        assert placed["reason"] == "ScaledToZero"

        operator.kubectl("scale", "edgeworkload", name, "-n", ns, "--replicas=2")
        st = wait_for(lambda: _settled(operator, ns, name, 2), 60, "scaled up from zero")
        assert st["phase"] == "Placed" and len(st["placements"]) == 2 and st.get("migrations", 0) == 0


def test_a_horizontal_pod_autoscaler_reads_the_scale(operator: StackHandle) -> None:
    name = "autoscaled"
    with own_namespace(operator, "hpa") as ns:
        apply_all(operator, [workload(name, ns, replicas=2, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)])
        wait_for(lambda: _settled(operator, ns, name, 2), 60, "2 replicas placed")
        hpa = {
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "scaleTargetRef": {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload", "name": name},
                "minReplicas": 2, "maxReplicas": 4,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                               "target": {"type": "Utilization", "averageUtilization": 80}}}],
            },
        }
        apply_all(operator, [hpa])

        def able() -> dict[str, Any] | None:
            conds = (get_json(operator, "hpa", name, "-n", ns).get("status") or {}).get("conditions") or []
            return next((c for c in conds if c["type"] == "AbleToScale"), None)

        cond = wait_for(able, 90, "the HPA's AbleToScale condition")
        assert cond["status"] == "True", cond  # it read the EdgeWorkload's scale (no FailedGetScale)
        assert get_json(operator, "hpa", name, "-n", ns)["status"].get("currentReplicas") == 2
