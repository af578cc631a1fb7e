"""Pure builders of the apply step: pod plans, pinned pods, stable decision ids (table-driven)."""

from __future__ import annotations

import pytest

from orchestrator.decision import build_pod, decision_id
from orchestrator.resources import EdgeWorkloadSpec

SPEC = EdgeWorkloadSpec.model_validate({
    "replicas": 2,
    "template": {"metadata": {"labels": {"app": "cam"}}, "spec": {"containers": [{"name": "a", "image": "img:1"}]}},
    "resources": {"cpu": "500m", "memory": "256Mi"},
    "users": {"cells": [{"cell": "cell-eixample-1", "share": 1.0}]},
    "qos": {"maxLatencyMs": 10},
})
OWNER = {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload",
         "metadata": {"name": "cam", "namespace": "city", "uid": "u-1"}}


def test_decision_id_ignores_replica_order_but_not_nodes() -> None:
    assert decision_id("ns/a", ["n1", "n2"]) == decision_id("ns/a", ["n2", "n1"])
    assert decision_id("ns/a", ["n1", "n2"]) != decision_id("ns/a", ["n1", "n3"])
    assert decision_id("ns/a", ["n1"]) != decision_id("ns/b", ["n1"])


def test_pod_is_pinned_owned_and_requests_the_replica_resources() -> None:
    pod = build_pod(OWNER, SPEC, "mec-22at-n01", 0, "mec-22at", "d1")
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["mec-22at-n01"]
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["uid"], owner["controller"], owner["kind"]) == ("u-1", True, "EdgeWorkload")
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "500m", "memory": "256Mi"}
    assert pod["metadata"]["labels"]["app"] == "cam"
    assert pod["metadata"]["labels"]["edgeorch.io/workload"] == "cam"
    assert {t["key"] for t in pod["spec"]["tolerations"]} == {"edgeorch.io/far-edge"}  # far-edge allowed: tolerated
    assert len(pod["metadata"]["name"]) <= 63
    assert pod["spec"]["restartPolicy"] == "Always"  # a replica never ends as Succeeded


def test_direct_binding_sets_the_node_and_keeps_the_affinity() -> None:
    pod = build_pod(OWNER, SPEC, "mec-22at-n01", 0, "mec-22at", "d1", binding="direct")
    assert pod["spec"]["nodeName"] == "mec-22at-n01"
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["mec-22at-n01"]
    assert "nodeName" not in build_pod(OWNER, SPEC, "mec-22at-n01", 0, "mec-22at", "d1")["spec"]


def test_an_unknown_binding_setting_is_refused_by_name() -> None:
    from orchestrator.service import Settings

    assert Settings.from_env({"EDGEORCH_BINDING": "direct"}).binding == "direct"
    with pytest.raises(ValueError, match="EDGEORCH_BINDING: expected one of scheduler, direct, got 'fast'"):
        Settings.from_env({"EDGEORCH_BINDING": "fast"})


def test_a_gpu_pod_asks_the_gpus_as_request_and_limit() -> None:
    """The API server rejects an extended resource requested without an equal limit."""
    spec = SPEC.model_copy(update={"resources": SPEC.resources.model_copy(update={"gpu": 1})})
    res = build_pod(OWNER, spec, "mec-montjuic-n01", 0, "mec-montjuic", "d1")["spec"]["containers"][0]["resources"]
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == "1"
    assert "limits" not in build_pod(OWNER, SPEC, "n1", 0, "s", "d1")["spec"]["containers"][0]["resources"]
