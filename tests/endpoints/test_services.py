"""Each EdgeWorkload's Service as a manifest (orchestrator.endpoints.services): ports from the spec or
the template's containerPorts, headless without any, owned by the workload, and the drift its one
writer corrects."""

from __future__ import annotations

import copy
from typing import Any

from orchestrator.endpoints.services import build_service, drift, owned_by, service_ports
from orchestrator.resources import EdgeWorkloadSpec
from tests.operator.conftest import workload


def _body(workload_name: str = "cam", **service: Any) -> dict[str, Any]:
    ew = workload(workload_name, "city", cells={"cell-a": 1.0}, max_latency_ms=10)
    ew["metadata"]["uid"] = "uid-1"
    ew["spec"]["template"]["spec"]["containers"] = [
        {"name": "app", "image": "a:1", "ports": [{"name": "http", "containerPort": 8080},
                                                   {"containerPort": 8080}, {"containerPort": 5000, "protocol": "UDP"},
                                                   {"containerPort": "x"}]},
        {"name": "side", "image": "b:1", "ports": [{"name": "http", "containerPort": 9090}]}]
    if service:
        ew["spec"]["service"] = service
    return ew


def _spec(body: dict[str, Any]) -> EdgeWorkloadSpec:
    return EdgeWorkloadSpec.model_validate(body["spec"])


def test_ports_come_from_the_templates_container_ports() -> None:
    ports = service_ports(_spec(_body()))
    assert [(p.name, p.port, p.target_port, p.protocol) for p in ports] == [
        ("http", 8080, 8080, "TCP"), ("udp-5000", 5000, 5000, "UDP"), ("tcp-9090", 9090, 9090, "TCP")]


def test_the_service_selects_the_replicas_and_is_owned_by_the_workload() -> None:
    body = _body(ports=[{"name": "web", "port": 80, "targetPort": 8080}])
    svc = build_service(body, _spec(body))
    assert svc is not None and svc["metadata"]["name"] == "cam"
    assert svc["spec"]["selector"] == {"edgeorch.io/workload": "cam"} and "clusterIP" not in svc["spec"]
    assert svc["spec"]["ports"] == [{"name": "web", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    assert owned_by(svc, "uid-1") and not owned_by(svc, "uid-2")


def test_no_port_makes_a_headless_service_and_disabled_makes_none() -> None:
    body = _body()
    body["spec"]["template"]["spec"]["containers"] = [{"name": "app", "image": "a:1"}]
    svc = build_service(body, _spec(body))
    assert svc is not None and svc["spec"]["clusterIP"] == "None" and svc["spec"]["ports"] == []
    off = _body(enabled=False)
    assert build_service(off, _spec(off)) is None


def test_a_workload_name_that_cannot_name_a_service_needs_spec_service_name() -> None:
    body = _body("9cam")
    assert build_service(body, _spec(body)) is None
    named = _body("9cam", name="cam9")
    svc = build_service(named, _spec(named))
    assert svc is not None and svc["metadata"]["name"] == "cam9" and svc["spec"]["selector"] == {"edgeorch.io/workload": "9cam"}


def test_drift_is_what_the_writer_patches_and_nothing_else() -> None:
    body = _body()
    want = build_service(body, _spec(body))
    assert want is not None
    have = copy.deepcopy(want)
    have["spec"].update(clusterIP="10.96.0.7", sessionAffinity="None")  # filled in by the API server
    assert drift(want, have) is None
    have["spec"]["ports"][0]["port"] = 81
    have["spec"]["selector"]["extra"] = "x"
    patch = drift(want, have)
    assert patch == {"spec": {"selector": {"edgeorch.io/workload": "cam", "extra": None}, "ports": want["spec"]["ports"]}}

