"""The Pod template's node rules (nodeSelector, required node affinity, tolerations) reach placement
as the kube-scheduler reads them, and the replica Pods keep them next to their pin.  Pure;
test_the_templates_node_selector_is_honoured (test_operator_e2e.py) shows a replica Running on the
one node its template admits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.decision import build_pod, pinned_affinity
from orchestrator.engine import PlacementEngine
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.selectors import node_test
from orchestrator.snapshot import QosMetrics, Request, build_instance, tolerates
from placement import InvalidInstance
from tests.operator.test_engine_capacity import METRICS, SITES, View, k8s_node


def labelled(name: str, **labels: str) -> dict[str, Any]:
    node = k8s_node(name, "near", pods="110")
    node["metadata"]["labels"].update(labels)
    return node


NODES = [labelled("n1", disk="hdd", cores="8"), labelled("n2", disk="ssd", cores="32"), labelled("n3", cores="16")]


def _spec(**pod: Any) -> EdgeWorkloadSpec:
    return EdgeWorkloadSpec.model_validate({
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "a", "image": "img:1"}], **pod}},
        "resources": {"cpu": "100m", "memory": "64Mi"},
        "users": {"cells": [{"cell": "c1", "share": 1.0}]},
        "qos": {"maxLatencyMs": 50},
    })


def _required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def _expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": op, **({"values": list(values)} if values else {})}]}


@pytest.mark.parametrize(("rules", "admitted"), [
    ({"nodeSelector": {"disk": "ssd"}}, {"n2"}),
    ({"affinity": _required(_expr("disk", "In", "ssd", "hdd"))}, {"n1", "n2"}),
    ({"affinity": _required(_expr("disk", "NotIn", "ssd"))}, {"n1", "n3"}),
    ({"affinity": _required(_expr("disk", "Exists"))}, {"n1", "n2"}),
    ({"affinity": _required(_expr("disk", "DoesNotExist"))}, {"n3"}),
    ({"affinity": _required(_expr("cores", "Gt", "8"))}, {"n2", "n3"}),
    ({"affinity": _required(_expr("cores", "Lt", "16"))}, {"n1"}),
    ({"affinity": _required(_expr("disk", "In", "ssd"), _expr("cores", "Lt", "9"))}, {"n1", "n2"}),  # terms: OR
    ({"affinity": _required({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n3"]}]})}, {"n3"}),
    ({"nodeSelector": {"disk": "ssd"}, "affinity": _required(_expr("cores", "Lt", "16"))}, set()),  # both: AND
    ({"affinity": _required({})}, set()),  # an empty term matches nothing, as in the kube-scheduler
])
def test_template_rules_admit_the_nodes_the_scheduler_would(rules: dict[str, Any], admitted: set[str]) -> None:
    test = node_test(rules)
    assert test is not None
    assert {n["metadata"]["name"] for n in NODES if test(n)} == admitted
    inst = build_instance(NODES, SITES, [Request("ns/a", _spec(**rules))], METRICS, {})
    assert inst.workloads[0].allowed_nodes == admitted


def test_no_rules_no_restriction() -> None:
    assert node_test({}) is None
    assert node_test({"affinity": {"podAntiAffinity": {}}}) is None
    inst = build_instance(NODES, SITES, [Request("ns/a", _spec())], METRICS, {})
    assert inst.workloads[0].allowed_nodes is None


@pytest.mark.parametrize(("rules", "field"), [
    ({"nodeSelector": {"disk": 1}}, "spec.template.spec.nodeSelector"),
    ({"affinity": _required(_expr("disk", "Near", "x"))}, "nodeSelectorTerms[0].matchExpressions[0].operator"),
    ({"affinity": _required(_expr("cores", "Gt", "many"))}, "nodeSelectorTerms[0].matchExpressions[0].values"),
    ({"affinity": _required({"matchFields": [{"key": "spec.x", "operator": "In", "values": ["a"]}]})},
     "nodeSelectorTerms[0].matchFields[0].key"),
])
def test_malformed_rules_name_the_field(rules: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInstance) as err:
        node_test(rules)
    assert field in str(err.value)


def test_the_engine_places_where_the_template_admits_or_says_why_not() -> None:
    async def metrics() -> QosMetrics:
        return METRICS

    async def run() -> tuple[Any, Any, Any]:
        engine = PlacementEngine(View(NODES), metrics, window_s=0.01)
        try:
            return await asyncio.gather(
                engine.place(Request("ns/ssd", _spec(nodeSelector={"disk": "ssd"}))),
                engine.place(Request("ns/nvme", _spec(nodeSelector={"disk": "nvme"}))),
                engine.place(Request("ns/bad", _spec(nodeSelector=["disk"]))),
            )
        finally:
            await engine.stop()

    ssd, nvme, bad = asyncio.run(run())
    assert ssd.nodes == ("n2",)
    assert not nvme.placed and "NodeSelector" in (nvme.reason or "") and "Pod template" in (nvme.reason or "")
    assert not bad.placed and "spec.template.spec.nodeSelector" in (bad.reason or "")


def test_replica_pods_keep_the_template_rules_beside_their_pin() -> None:
    anti = {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname",
                                                                "labelSelector": {"matchLabels": {"app": "a"}}}]}
    affinity = {**_required(_expr("disk", "In", "ssd"), _expr("cores", "Gt", "8")), "podAntiAffinity": anti}
    out = pinned_affinity(affinity, "n2")
    terms = out["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert len(terms) == 2
    for term in terms:
        assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]
        assert term["matchExpressions"]
    assert out["podAntiAffinity"] == anti
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0].get(
        "matchFields") is None  # the template itself is not changed
    owner = {"metadata": {"name": "a", "namespace": "ns", "uid": "u"}}
    pod = build_pod(owner, _spec(nodeSelector={"disk": "ssd"}, affinity=affinity), "n2", 0, "near", "d")
    assert pod["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert pod["spec"]["affinity"] == out


GPU = {"key": "gpu", "value": "h100", "effect": "NoSchedule"}
DRAIN = {"key": "maintenance", "value": "", "effect": "NoExecute"}


@pytest.mark.parametrize(("toleration", "taint", "expected"), [
    ({"key": "gpu", "operator": "Exists"}, GPU, True),
    ({"key": "gpu", "operator": "Equal", "value": "h100"}, GPU, True),
    ({"key": "gpu", "value": "a100"}, GPU, False),  # Equal is the default operator: the value counts
    ({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, GPU, False),  # another effect
    ({"operator": "Exists"}, DRAIN, True),  # an empty key with Exists tolerates every taint
    ({"value": "x"}, DRAIN, False),  # an empty key needs Exists
    ({"key": "maintenance", "operator": "Exists", "effect": "NoExecute"}, DRAIN, True),
])
def test_tolerations_match_taints_as_the_scheduler_does(toleration: dict[str, Any], taint: dict[str, Any],
                                                        expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


def test_placement_keeps_a_workload_off_taints_its_template_does_not_tolerate() -> None:
    """Taints count by key, value and effect: a NoExecute taint whose key the Pods tolerate only for
    NoSchedule keeps them off (the scheduler would refuse them); a tolerate-all template may go."""
    nodes = [labelled("n1"), labelled("n2")]
    nodes[0]["spec"] = {"taints": [{"key": "edgeorch.io/far-edge", "effect": "NoExecute"}]}
    nodes[1]["spec"] = {"taints": [GPU]}
    plain = Request("ns/plain", _spec())
    gpu_a100 = Request("ns/a100", _spec(tolerations=[{"key": "gpu", "value": "a100"}]))
    anything = Request("ns/any", _spec(tolerations=[{"operator": "Exists"}]))
    inst = build_instance(nodes, SITES, [plain, gpu_a100, anything], METRICS, {})
    tainted = {n.name: n.taints for n in inst.nodes}
    for w in inst.workloads[:2]:
        assert not any(t <= w.tolerations for t in tainted.values()), w.name
    assert all(t <= inst.workloads[2].tolerations for t in tainted.values())
